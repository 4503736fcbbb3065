// The Astro app the adapter suite runs against, served by Astro's dev server: endpoints are on demand.
// Astro's origin check refuses a POST without Content-Type unless it comes from the same origin, before
// any middleware runs; agents are not browsers, and the suite's POSTs carry no body.
import { defineConfig } from "astro/config";

export default defineConfig({ output: "server", devToolbar: { enabled: false }, security: { checkOrigin: false } });
