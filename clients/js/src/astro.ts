/**
 * Kavach for Astro: a middleware that authorizes every on-demand request an agent makes,
 * answers refusals itself, and leaves the decision in `context.locals.kavach`.
 *
 * ```ts
 * // src/middleware.ts (with output: "server", or prerender = false on the routes)
 * import { kavachMiddleware } from "@kavach/sdk/astro";
 * export const onRequest = kavachMiddleware({
 *   kavach: { url: process.env.KAVACH_URL!, apiKey: process.env.KAVACH_API_KEY! },
 * });
 * // src/env.d.ts: declare namespace App { interface Locals { kavach?: import("@kavach/sdk").Decision } }
 * ```
 *
 * It composes with `sequence(...)` from `astro:middleware`. A request is mapped by its route
 * (`context.routePattern`: `/repos/[id]` is `http:repos:{id}`, with `context.params` as
 * arguments); the client is `context.clientAddress`, or what X-Forwarded-For says behind
 * `trustedProxies`. Prerendered routes are not checked: they are rendered at build time and
 * served as files. Astro's own origin check (`security.checkOrigin`, on by default) answers a
 * cross-origin POST, PUT, PATCH or DELETE with a form Content-Type, or none, before any
 * middleware runs: agents should send a Content-Type, or an API turns the check off.
 *
 * The Authorization header is removed from the request before `next()`, so neither pages
 * (`Astro.request`) nor endpoints see it. Where a platform's request headers cannot change,
 * the middleware hands on a copy of the request without it (`next(request)`, Astro's way of
 * passing a new request down the chain).
 */
import type { APIContext, MiddlewareHandler } from "astro";
import { Guard, type GuardOptions } from "./guard.js";
import { bracketPattern } from "./mapping.js";
import { refusalResponse } from "./refusal.js";
import type { Decision } from "./types.js";

export interface KavachAstroOptions extends GuardOptions {
  /** Which requests need an agent (default: every on-demand request the middleware sees). */
  protect?: (context: APIContext) => boolean;
}

/** kavachMiddleware returns an Astro middleware that lets only authorized requests through. */
export function kavachMiddleware(options: KavachAstroOptions): MiddlewareHandler {
  const guard = new Guard(options);
  return async (context, next) => {
    if (context.isPrerendered || (options.protect && !options.protect(context))) return next();
    const headers = context.request.headers;
    const forwarded = headers.get("x-forwarded-for");
    const route = routeOf(context.routePattern);
    const verdict = await guard.check({
      method: context.request.method,
      path: context.url.pathname,
      route,
      params: route === undefined ? undefined : context.params,
      authorization: headers.get("authorization"),
      header: (name) => headers.get(name),
      remoteAddress: clientAddress(context),
      forwardedFor: forwarded === null ? [] : [forwarded],
      userAgent: headers.get("user-agent") ?? undefined,
      raw: context,
    });
    if (!verdict.allowed) return refusalResponse(verdict.refusal);
    (context.locals as { kavach?: Decision }).kavach = verdict.decision;
    const stripped = withoutAuthorization(context.request);
    if (stripped === context.request) return next();
    context.request = stripped;
    return next(stripped);
  };
}

/** routeOf is the route in `{name}` syntax; Astro's own 404 page is no route of the app's. */
function routeOf(pattern: string | undefined): string | undefined {
  if (!pattern || pattern === "/404" || pattern === "/_404") return undefined;
  return bracketPattern(pattern);
}

/** clientAddress is the adapter's peer address; "" where the adapter cannot tell. */
function clientAddress(context: APIContext): string {
  try {
    return context.clientAddress;
  } catch {
    return "";
  }
}

/** withoutAuthorization removes the header in place, or returns a copy of the request without it. */
function withoutAuthorization(request: Request): Request {
  if (!request.headers.has("authorization")) return request;
  try {
    request.headers.delete("authorization");
    if (!request.headers.has("authorization")) return request;
  } catch {
    // immutable headers: copy the request below
  }
  const copy = new Headers(request.headers);
  copy.delete("authorization");
  return new Request(request, { headers: copy });
}
