/**
 * Kavach for Next.js: App Router route handlers, and proxy.ts (middleware.ts before Next 16).
 *
 * ```ts
 * // app/repos/[id]/route.ts
 * import { kavach } from "@kavach/sdk/next";
 * const { withKavach } = kavach({ kavach: { url: process.env.KAVACH_URL!, apiKey: process.env.KAVACH_API_KEY! } });
 * export const GET = withKavach(async (request, { params }, decision) => Response.json({ grant: decision.grant }),
 *   { route: "/repos/[id]" });
 * ```
 *
 * `withKavach(handler, { route })` maps the route it is given (`/repos/[id]` is
 * `http:repos:{id}`, with the `id` param as an argument); without `route` it maps the request's
 * path. The handler gets the decision as a third argument (and from `decisionOf(request)`);
 * neither its request nor `headers()` from next/headers shows the Authorization header.
 *
 * In proxy.ts, `export const proxy = kavach({...}).proxy` guards every path the matcher
 * covers, mapping the path (`/repos/42` is `http:repos:42`): an allowed request continues
 * without Authorization and with `x-kavach-grant` and `x-kavach-audit-id` (`proxyDecision(request)`
 * reads them; believe them only on paths the proxy covers).
 *
 * The client's address. Next.js does not give handlers or the proxy the connection's peer, and
 * `next start` copies it into X-Forwarded-For only when the client sent none. So:
 * - with `trustedProxies`, Next.js is taken to be reachable only through those proxies: the
 *   client is the right-most X-Forwarded-For hop not written by one of them;
 * - without, the address is unknown (an IP allowlist refuses), unless `remoteAddress`
 *   says where a platform puts the peer.
 *
 * The Guard is made on the first request, so a module evaluated by `next build` without the
 * runtime's environment does not fail.
 */
import type { NextRequest } from "next/server.js";
import { Guard, headerValues, type GuardOptions, type GuardRequest, type Verdict } from "./guard.js";
import { bracketPattern } from "./mapping.js";
import { refusalResponse } from "./refusal.js";
import type { Decision } from "./types.js";

export interface NextKavachOptions extends GuardOptions {
  /** The connection's peer address, where the platform tells it (never a header a client can set). */
  remoteAddress?: (request: Request) => string | undefined;
}

/** A route handler's second argument. */
export interface RouteHandlerContext<P> {
  params: Promise<P>;
}

/** A route handler that receives the decision that let its request through. */
export type KavachRouteHandler<P, R extends Request> = (
  request: R,
  context: RouteHandlerContext<P>,
  decision: Decision,
) => Response | Promise<Response>;

export interface NextKavach {
  /** The Guard, once made. */
  guard(): Guard;
  /** Wraps a route handler; route is its file-system route ("/repos/[id]"). */
  withKavach<P extends Record<string, string | string[] | undefined> = Record<string, string | string[]>, R extends Request = NextRequest>(
    handler: KavachRouteHandler<P, R>,
    options?: { route?: string },
  ): (request: R, context: RouteHandlerContext<P>) => Promise<Response>;
  /** A proxy.ts (middleware.ts) function guarding the paths its matcher covers, by path. */
  proxy(request: NextRequest): Promise<Response>;
}

const decisions = new WeakMap<Request, Decision>();

/** decisionOf returns the decision that let a route handler's request through. */
export function decisionOf(request: Request): Decision | undefined {
  return decisions.get(request);
}

/** The request headers the proxy sets on an allowed request. */
export const grantHeader = "x-kavach-grant";
export const auditIdHeader = "x-kavach-audit-id";

/**
 * proxyDecision reads what the proxy let through: the grant and audit id. Believe it only on
 * paths the proxy's matcher covers; elsewhere a client can send these headers itself.
 */
export function proxyDecision(request: Request): { grant: string; auditId: string } | undefined {
  const auditId = request.headers.get(auditIdHeader);
  return auditId ? { grant: request.headers.get(grantHeader) ?? "", auditId } : undefined;
}

/** kavach returns the route handler wrapper and the proxy function. */
export function kavach(options: NextKavachOptions): NextKavach {
  let made: Guard | undefined;
  const guard = () => (made ??= new Guard(options));
  const trustsProxies = (options.trustedProxies ?? []).some((p) => p.trim() !== "");

  /** The request facts, the address as this file's doc comment says. */
  const facts = (request: Request, path: string): GuardRequest => {
    const hops = headerValues(request.headers.get("x-forwarded-for"))
      .flatMap((v) => v.split(","))
      .map((h) => h.trim())
      .filter((h) => h !== "");
    const peer = options.remoteAddress?.(request);
    const r: GuardRequest = {
      method: request.method,
      path,
      authorization: request.headers.get("authorization"),
      header: (name) => request.headers.get(name),
      userAgent: request.headers.get("user-agent") ?? undefined,
      raw: request,
    };
    if (peer !== undefined) {
      r.remoteAddress = peer;
      r.forwardedFor = hops;
    } else if (trustsProxies && hops.length > 0) {
      // The peer is a trusted proxy, which wrote the right-most hop: that hop is where the walk starts.
      r.remoteAddress = hops[hops.length - 1];
      r.forwardedFor = hops.slice(0, -1);
    }
    return r;
  };

  return {
    guard,
    withKavach(handler, opts = {}) {
      const route = opts.route === undefined ? undefined : bracketPattern(opts.route);
      return async (request, context) => {
        const params = route === undefined ? undefined : await context.params;
        const verdict: Verdict = await guard().check({
          ...facts(request, new URL(request.url).pathname),
          route,
          params,
        });
        if (!verdict.allowed) return refusalResponse(verdict.refusal);
        const passed = withoutAuthorization(request);
        decisions.set(passed, verdict.decision);
        return handler(passed, context, verdict.decision);
      };
    },
    async proxy(request) {
      const verdict = await guard().check(facts(request, request.nextUrl?.pathname ?? new URL(request.url).pathname));
      if (!verdict.allowed) return refusalResponse(verdict.refusal);
      const headers = new Headers(request.headers);
      headers.delete("authorization");
      headers.set(grantHeader, verdict.decision.grant ?? "");
      headers.set(auditIdHeader, verdict.decision.auditId);
      const { NextResponse } = await import("next/server.js");
      return NextResponse.next({ request: { headers } });
    },
  };
}

/** withoutAuthorization removes the credential from the request, or hands over a copy without it. */
function withoutAuthorization<R extends Request>(request: R): R {
  try {
    request.headers.delete("authorization");
    if (!request.headers.has("authorization")) return request;
  } catch {
    // immutable headers: copy below
  }
  const headers = new Headers(request.headers);
  headers.delete("authorization");
  return new Request(request, { headers }) as R;
}
