/**
 * Kavach for Nuxt and Nitro (h3 1.x): a server middleware that authorizes every request an
 * agent makes, answers refusals itself, and leaves the decision in `event.context.kavach`.
 *
 * ```ts
 * // server/middleware/kavach.ts
 * import { kavachMiddleware } from "@kavach/sdk/nuxt";
 * export default kavachMiddleware({
 *   kavach: { url: process.env.KAVACH_URL!, apiKey: process.env.KAVACH_API_KEY! },
 *   useNitroApp, // Nitro's (auto-imported): map by the server route a request will match
 * });
 * ```
 *
 * A handler reads the decision with `event.context.kavach` and never sees the Authorization
 * header. Nitro runs server middleware before its router, so without `useNitroApp` the
 * request's path is mapped (`/repos/42` is `http:repos:42`); with it, the route the router
 * will pick (`/repos/:id` is `http:repos:{id}`, argument id = "42"). Used as a route's own
 * hook, `defineEventHandler({ onRequest: [kavach], handler })`, the matched route is known
 * anyway. Nuxt's page renderer (the catch-all route `/**`) is mapped by path; leave pages out
 * with `protect`. Under `nuxi dev` Nitro sits behind Nuxt's dev proxy and is not told the
 * client's address, so IP allowlists refuse there; a built server (`node .output/server/index.mjs`)
 * sees the connection's peer.
 */
import { defineEventHandler, send, setResponseHeaders, setResponseStatus } from "h3";
import type { EventHandler, H3Event } from "h3";
import { Guard, headerValues, withoutRawHeader, type GuardOptions } from "./guard.js";
import { colonPattern, rest } from "./mapping.js";
import { refusalBody, refusalHeaders } from "./refusal.js";
import type { Decision } from "./types.js";
import { nodeHeaders } from "./trace.js";

declare module "h3" {
  interface H3EventContext {
    /** The decision that let this request through (set by @kavach/sdk/nuxt). */
    kavach?: Decision;
  }
}

/** The part of Nitro's app the middleware uses: its router. */
export interface NitroAppRouter {
  router: { handler: (event: never) => unknown };
}

export interface KavachNuxtOptions extends GuardOptions {
  /** Nitro's useNitroApp, to map a request by the server route it will match. */
  useNitroApp?: () => NitroAppRouter;
  /** Which requests need an agent (default: every request the middleware sees). */
  protect?: (event: H3Event) => boolean;
}

/** The route a request matched (or will match): its h3 pattern and its parameters. */
interface MatchedRoute {
  path: string;
  params?: Record<string, string>;
}

/**
 * kavachMiddleware returns an h3 event handler for `server/middleware/` (or a route's
 * `onRequest`): it lets an authorized request through with `event.context.kavach` set and
 * the Authorization header removed, and answers a refusal with its status, headers and body.
 */
export function kavachMiddleware(options: KavachNuxtOptions): EventHandler<never, Promise<void>> {
  const guard = new Guard(options);
  return defineEventHandler(async (event: H3Event): Promise<void> => {
    if (options.protect && !options.protect(event)) return;
    const req = event.node.req;
    const matched =
      (event.context.matchedRoute as MatchedRoute | undefined) ??
      (options.useNitroApp ? routeOf(options.useNitroApp().router, event.method, event.path) : undefined);
    const route = matched && matched.path !== "/**" ? matched.path : undefined;
    const verdict = await guard.check({
      method: event.method,
      path: event.path.split("?")[0],
      route: route === undefined ? undefined : colonPattern(route),
      params: route === undefined ? undefined : paramsOf(matched?.params ?? event.context.params),
      authorization: req.headers.authorization,
      header: nodeHeaders(req.headers),
      remoteAddress: req.socket?.remoteAddress,
      forwardedFor: headerValues(req.headers["x-forwarded-for"]),
      userAgent: req.headers["user-agent"],
      raw: event,
    });
    if (!verdict.allowed) {
      setResponseStatus(event, verdict.refusal.status);
      setResponseHeaders(event, refusalHeaders(verdict.refusal));
      return send(event, refusalBody(verdict.refusal));
    }
    event.context.kavach = verdict.decision;
    hideAuthorization(event);
  });
}

/**
 * routeOf finds the route h3 1.x's router will match for a request without running its
 * handler. The router names the match on event.context (matchedRoute, then params) before it
 * calls the handler, so a stand-in event whose context refuses every write stops it there.
 * (The router's own __resolve__ would do, but it matches GET handlers only.)
 */
function routeOf(router: NitroAppRouter["router"], method: string, path: string): MatchedRoute | undefined {
  const stop = Symbol("matched");
  let found: MatchedRoute | undefined;
  const context = new Proxy({} as Record<string, unknown>, {
    set(_, key, value) {
      if (key === "matchedRoute") found = value as MatchedRoute;
      throw stop;
    },
  });
  try {
    router.handler({ method, path, context } as never);
  } catch (err) {
    if (err !== stop) return undefined; // no route, or not a method it serves
  }
  return found;
}

/** paramsOf decodes h3's raw parameter values; an unnamed `**` wildcard is named "rest". */
function paramsOf(params: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params ?? {})) {
    let value = v;
    try {
      value = decodeURIComponent(v);
    } catch {
      // keep a malformed escape as it came
    }
    out[k === "_" ? rest : k] = value;
  }
  return out;
}

/** hideAuthorization removes the header wherever h3 and Node keep a request's headers. */
function hideAuthorization(event: H3Event): void {
  const req = event.node.req;
  delete req.headers.authorization;
  req.rawHeaders = withoutRawHeader(req.rawHeaders, "Authorization");
  try {
    event.headers.delete("authorization");
  } catch {
    // headers of a platform request that cannot change; h3 reads Node's headers above
  }
}
