// The Nuxt app the adapter suite runs against: two server routes, guarded by server/middleware/kavach.ts.
// The tests build it into a directory of their own (KAVACH_APP_BUILD), so runs never share a build.
const out = process.env.KAVACH_APP_BUILD;

export default defineNuxtConfig({
  compatibilityDate: "2025-07-15",
  devtools: { enabled: false },
  telemetry: false,
  pages: false,
  ...(out ? { buildDir: `${out}/.nuxt`, nitro: { output: { dir: `${out}/.output` } } } : {}),
});
