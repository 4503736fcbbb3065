/**
 * W3C trace context (traceparent, tracestate, baggage) for the client and the adapters,
 * through OpenTelemetry's JS API when the application has it. `@opentelemetry/api` is an
 * optional peer dependency, loaded on first use: without it, or while the application has
 * registered no propagator and context manager, nothing is read and nothing is sent.
 */
type OTelAPI = typeof import("@opentelemetry/api");

let loading: Promise<OTelAPI | undefined> | undefined;

/** otel loads @opentelemetry/api once; undefined when it is not installed. */
function otel(): Promise<OTelAPI | undefined> {
  loading ??= import("@opentelemetry/api").then(
    (m) => m,
    () => undefined,
  );
  return loading;
}

/** injectTraceContext writes the active context's trace context into outgoing headers. */
export async function injectTraceContext(headers: Record<string, string>): Promise<void> {
  const api = await otel();
  if (api) api.propagation.inject(api.context.active(), headers);
}

/** Reads one header of an incoming request by its lower-case name. */
export type HeaderReader = (name: string) => string | string[] | null | undefined;

const traceKeys = ["traceparent", "tracestate", "baggage"] as const;

/**
 * withIncomingTrace runs fn in the trace context of an incoming request's headers, so that
 * the authorize call it makes continues the caller's trace. A span the application's own
 * instrumentation made active for the request is kept as the parent instead.
 */
export async function withIncomingTrace<T>(header: HeaderReader | undefined, fn: () => Promise<T>): Promise<T> {
  const carrier = header && carrierOf((k) => first(header(k)));
  if (!carrier) return fn();
  const api = await otel();
  if (!api) return fn();
  const active = api.context.active();
  const current = api.trace.getSpanContext(active);
  if (current && api.isSpanContextValid(current)) return fn();
  return api.context.with(api.propagation.extract(active, carrier), fn);
}

/**
 * withMetaTrace runs fn in the trace context of an MCP request's params._meta. The MCP
 * specification (revision 2026-07-28, Base Protocol, "General fields" > "_meta": reserved
 * keys and "OpenTelemetry trace context") reserves the unprefixed keys "traceparent",
 * "tracestate" and "baggage" for it, in the W3C formats. A message's own context replaces
 * the HTTP request's: one request may carry several messages, each in a trace of its own.
 */
export async function withMetaTrace<T>(meta: unknown, fn: () => Promise<T>): Promise<T> {
  if (typeof meta !== "object" || meta === null) return fn();
  const m = meta as Record<string, unknown>;
  const carrier = carrierOf((k) => (typeof m[k] === "string" ? (m[k] as string) : undefined));
  if (!carrier) return fn();
  const api = await otel();
  if (!api) return fn();
  return api.context.with(api.propagation.extract(api.context.active(), carrier), fn);
}

/** nodeHeaders reads Node's incoming headers (lower-case names, repeated ones as arrays). */
export function nodeHeaders(h: Record<string, string | string[] | undefined>): HeaderReader {
  return (name) => h[name];
}

function first(v: string | string[] | null | undefined): string | undefined {
  return (Array.isArray(v) ? v[0] : v) ?? undefined;
}

/** carrierOf collects the trace keys read gives; undefined without a traceparent. */
function carrierOf(read: (key: string) => string | undefined): Record<string, string> | undefined {
  if (!read("traceparent")) return undefined;
  const carrier: Record<string, string> = {};
  for (const k of traceKeys) {
    const v = read(k);
    if (v) carrier[k] = v;
  }
  return carrier;
}
