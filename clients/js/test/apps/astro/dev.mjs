// Starts Astro's dev server through its JavaScript API, on PORT. (The astro command itself asks
// for Node 22; the package supports Node 20.19 and later, and so does this.)
process.env.ASTRO_TELEMETRY_DISABLED ??= "1";
process.env.ASTRO_DISABLE_UPDATE_CHECK ??= "true";
const { dev } = await import("astro");

const root = new URL(".", import.meta.url);
const server = await dev({ root, logLevel: "warn", server: { host: "127.0.0.1", port: Number(process.env.PORT) } });
process.once("SIGTERM", () => server.stop().then(() => process.exit(0)));
