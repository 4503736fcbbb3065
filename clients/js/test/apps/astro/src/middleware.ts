import { kavachMiddleware } from "@kavach/sdk/astro";
import { defineMiddleware, sequence } from "astro:middleware";

const env = process.env;
const list = (v: string | undefined) => (v ?? "").split(",").filter((s) => s !== "");

/** A middleware after Kavach's sees the request as the endpoint does. */
const later = defineMiddleware((context, next) => {
  context.locals.laterSawAuthorization = context.request.headers.has("authorization");
  return next();
});

export const onRequest = sequence(
  kavachMiddleware({
    kavach: { url: env.KAVACH_URL!, apiKey: env.KAVACH_API_KEY! },
    trustedProxies: list(env.KAVACH_TRUSTED_PROXIES),
    accessTokens: env.KAVACH_ISSUER ? { issuer: env.KAVACH_ISSUER, resource: env.KAVACH_RESOURCE! } : undefined,
  }),
  later,
);
