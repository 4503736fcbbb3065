/**
 * Kavach for SvelteKit: a `handle` hook that authorizes every request an agent makes, answers
 * refusals itself, and leaves the decision in `event.locals.kavach`.
 *
 * ```ts
 * // src/hooks.server.ts
 * import { env } from "$env/dynamic/private";
 * import { kavachHandle } from "@kavach/sdk/sveltekit";
 * export const handle = kavachHandle({ kavach: { url: env.KAVACH_URL!, apiKey: env.KAVACH_API_KEY! } });
 * // src/app.d.ts: declare global { namespace App { interface Locals { kavach?: import("@kavach/sdk").Decision } } }
 * ```
 *
 * It composes with `sequence(...)` from `@sveltejs/kit/hooks`. A request is mapped by its
 * route (`/repos/[id]` is `http:repos:{id}`, with the route's params as arguments), or by its
 * path where no route matched. The client is `event.getClientAddress()`, or what
 * X-Forwarded-For says behind `trustedProxies` (leave adapter-node's ADDRESS_HEADER unset
 * then, so the peer stays the peer).
 *
 * The Authorization header is removed from `event.request` before `resolve`, so neither the
 * route nor `event.fetch` (which forwards it to same-origin requests) sees it. Where a
 * platform's request headers cannot change, `resolve` gets the event with a copy of the
 * request without it instead. Prerendering runs hooks too: leave prerendered routes out with
 * `protect`.
 */
import type { Handle, RequestEvent } from "@sveltejs/kit";
import { Guard, type GuardOptions } from "./guard.js";
import { bracketPattern } from "./mapping.js";
import { refusalResponse } from "./refusal.js";
import type { Decision } from "./types.js";

export interface KavachSvelteKitOptions extends GuardOptions {
  /** Which requests need an agent (default: every request the hook sees). */
  protect?: (event: RequestEvent) => boolean;
}

/** kavachHandle returns a SvelteKit handle hook that lets only authorized requests through. */
export function kavachHandle(options: KavachSvelteKitOptions): Handle {
  const guard = new Guard(options);
  return async ({ event, resolve }) => {
    if (options.protect && !options.protect(event)) return resolve(event);
    const headers = event.request.headers;
    const forwarded = headers.get("x-forwarded-for");
    const verdict = await guard.check({
      method: event.request.method,
      path: event.url.pathname,
      route: event.route.id ? bracketPattern(event.route.id) : undefined,
      params: event.params,
      authorization: headers.get("authorization"),
      header: (name) => headers.get(name),
      remoteAddress: clientAddress(event),
      forwardedFor: forwarded === null ? [] : [forwarded],
      userAgent: headers.get("user-agent") ?? undefined,
      raw: event,
    });
    if (!verdict.allowed) return refusalResponse(verdict.refusal);
    (event.locals as { kavach?: Decision }).kavach = verdict.decision;
    return resolve(withoutAuthorization(event));
  };
}

/** clientAddress is the adapter's peer address; "" where the adapter cannot tell. */
function clientAddress(event: RequestEvent): string {
  try {
    return event.getClientAddress();
  } catch {
    return "";
  }
}

/** withoutAuthorization removes the header in place, or copies the request without it. */
function withoutAuthorization(event: RequestEvent): RequestEvent {
  const headers = event.request.headers;
  if (!headers.has("authorization")) return event;
  try {
    headers.delete("authorization");
    if (!headers.has("authorization")) return event;
  } catch {
    // immutable headers: copy the request below
  }
  const copy = new Headers(headers);
  copy.delete("authorization");
  return { ...event, request: new Request(event.request, { headers: copy }) };
}
