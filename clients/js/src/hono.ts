/**
 * Kavach for Hono.
 *
 * ```ts
 * import { Hono } from "hono";
 * import { kavach, type KavachEnv } from "@kavach/sdk/hono";
 * const app = new Hono<KavachEnv>();
 * app.use(kavach({ kavach: { url: "http://127.0.0.1:8080", apiKey: process.env.KAVACH_API_KEY! } }));
 * app.get("/repos/:id", (c) => c.json({ grant: c.get("kavach").grant }));
 * ```
 *
 * The middleware maps the route that will handle the request (`/repos/:id` is
 * `http:repos:{id}`, with `id` as an argument), whether it is registered app-wide or with the
 * route; with no route matched it maps the path. The handler finds the decision with
 * `c.get("kavach")` and never sees the Authorization header. The client's address is the
 * connection's peer on @hono/node-server, Bun and Deno (pass `remoteAddress` elsewhere),
 * or the left-most X-Forwarded-For hop not written by one of `trustedProxies`.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { Guard, headerValues, type GuardOptions } from "./guard.js";
import { colonPattern } from "./mapping.js";
import { refusalBody, refusalHeaders } from "./refusal.js";
import type { Decision } from "./types.js";

/** The context variables the middleware sets. */
export type KavachVariables = { kavach: Decision };

/** A Hono environment with the decision: `new Hono<KavachEnv>()`. */
export type KavachEnv = { Variables: KavachVariables };

export interface HonoKavachOptions extends GuardOptions {
  /** The connection's peer address, where the runtime is not one the middleware knows. */
  remoteAddress?: (c: Context) => string | undefined;
}

/** kavach returns the middleware; pass a Guard to share one between apps. */
export function kavach(options: HonoKavachOptions | Guard): MiddlewareHandler<KavachEnv> {
  const guard = options instanceof Guard ? options : new Guard(options);
  const peer = (!(options instanceof Guard) && options.remoteAddress) || runtimePeer;
  return async (c, next) => {
    const route = handlerRoute(c);
    const verdict = await guard.check({
      method: c.req.method,
      path: c.req.path,
      route: route && colonPattern(route.path),
      params: route?.params,
      authorization: c.req.header("Authorization"),
      header: (name) => c.req.header(name),
      remoteAddress: peer(c),
      forwardedFor: headerValues(c.req.header("X-Forwarded-For")),
      userAgent: c.req.header("User-Agent"),
      raw: c,
    });
    if (!verdict.allowed) {
      return c.body(refusalBody(verdict.refusal), verdict.refusal.status as ContentfulStatusCode, refusalHeaders(verdict.refusal));
    }
    withoutAuthorization(c);
    c.set("kavach", verdict.decision);
    await next();
  };
}

/**
 * handlerRoute is the route that will answer: the last matched route after this middleware
 * that is registered for a method (app.use middleware is registered for all of them), or the
 * last one after it. Its parameters are read as Hono reads them for that route.
 */
function handlerRoute(c: Context): { path: string; params: Record<string, string> } | undefined {
  const routes = c.req.matchedRoutes;
  const self = c.req.routeIndex;
  let index = -1;
  for (let i = routes.length - 1; i > self; i--) {
    if (routes[i].method !== "ALL") {
      index = i;
      break;
    }
    if (index < 0) index = i;
  }
  if (index < 0) return undefined;
  c.req.routeIndex = index;
  try {
    return { path: routes[index].path, params: c.req.param() as Record<string, string> };
  } finally {
    c.req.routeIndex = self;
  }
}

/** runtimePeer reads the connection's peer from @hono/node-server, Bun or Deno bindings. */
function runtimePeer(c: Context): string | undefined {
  const env = c.env as Record<string, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (!env) return undefined;
  const node = (env.server ?? env).incoming?.socket?.remoteAddress;
  if (typeof node === "string") return node;
  if (typeof env.requestIP === "function") {
    const bun = env.requestIP(c.req.raw)?.address;
    if (typeof bun === "string") return bun;
  }
  const deno = env.remoteAddr?.hostname;
  return typeof deno === "string" ? deno : undefined;
}

/** withoutAuthorization removes the agent's credential from the request the handler sees. */
function withoutAuthorization(c: Context): void {
  try {
    c.req.raw.headers.delete("Authorization");
  } catch {
    // Immutable headers (a runtime's own Request): hand the handler a copy without it.
    const headers = new Headers(c.req.raw.headers);
    headers.delete("Authorization");
    c.req.raw = new Request(c.req.raw, { headers });
  }
  if (c.req.raw.headers.has("Authorization")) {
    const headers = new Headers(c.req.raw.headers);
    headers.delete("Authorization");
    c.req.raw = new Request(c.req.raw, { headers });
  }
}
