import { kavachMiddleware } from "@kavach/sdk/nuxt";

const env = process.env;
const list = (v: string | undefined) => (v ?? "").split(",").filter((s) => s !== "");

export default kavachMiddleware({
  kavach: { url: env.KAVACH_URL!, apiKey: env.KAVACH_API_KEY! },
  trustedProxies: list(env.KAVACH_TRUSTED_PROXIES),
  accessTokens: env.KAVACH_ISSUER ? { issuer: env.KAVACH_ISSUER, resource: env.KAVACH_RESOURCE! } : undefined,
  useNitroApp,
});
