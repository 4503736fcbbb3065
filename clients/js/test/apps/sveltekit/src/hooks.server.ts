import { env } from "$env/dynamic/private";
import { kavachHandle } from "@kavach/sdk/sveltekit";
import type { Handle } from "@sveltejs/kit";
import { sequence } from "@sveltejs/kit/hooks";

const list = (v: string | undefined) => (v ?? "").split(",").filter((s) => s !== "");

/** A hook after Kavach's sees the request as the route does. */
const later: Handle = ({ event, resolve }) => {
  event.locals.laterSawAuthorization = event.request.headers.has("authorization");
  return resolve(event);
};

export const handle = sequence(
  kavachHandle({
    kavach: { url: env.KAVACH_URL!, apiKey: env.KAVACH_API_KEY! },
    trustedProxies: list(env.KAVACH_TRUSTED_PROXIES),
    accessTokens: env.KAVACH_ISSUER ? { issuer: env.KAVACH_ISSUER, resource: env.KAVACH_RESOURCE! } : undefined,
  }),
  later,
);
