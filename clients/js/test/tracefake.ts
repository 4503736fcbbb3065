/**
 * A loopback stand-in for Kavach's authorize routes that records the trace context each
 * request carried, for the trace propagation tests.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface Seen {
  path: string;
  traceparent?: string;
  tracestate?: string;
}

export interface FakeKavach {
  url: string;
  seen: Seen[];
  close: () => Promise<void>;
}

export const callerTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
export const callerSpanId = "00f067aa0ba902b7";
export const callerTraceparent = `00-${callerTraceId}-${callerSpanId}-01`;
export const metaTraceId = "0af7651916cd43dd8448eb211c80319c";
export const metaTraceparent = `00-${metaTraceId}-b7ad6b7169203331-01`;

/** startFakeKavach answers every authorize call as allowed. */
export async function startFakeKavach(): Promise<FakeKavach> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
      seen.push({ path: req.url ?? "", traceparent: one(req.headers.traceparent), tracestate: one(req.headers.tracestate) });
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ allowed: true, code: "ALLOWED", reason: "", auditId: "audit-" + seen.length, grant: "perm_1" }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** traceIdOf is the trace id of a traceparent header, or undefined. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent?.split("-")[1];
}
