import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { createApp, createRouter, defineEventHandler, getRequestHeader, toNodeListener, type H3Event } from "h3";
import { kavachMiddleware } from "../src/nuxt.js";
import { adapterSuite, recordingAuthorizer, type SuiteEnv, type TestApp } from "./adapter-suite.js";
import { appDir, binDir, kavachEnv, packagesImportedBy, startServer } from "./appserver.js";

const run = promisify(execFile);

/** The app is built once per run, into a directory of its own, and served by Nitro's node server. */
let build: Promise<string> | undefined;
const buildDir = mkdtempSync(join(tmpdir(), "kavach-nuxt-"));
after(() => rmSync(buildDir, { recursive: true, force: true }));

async function start(env: SuiteEnv): Promise<TestApp> {
  build ??= run(join(binDir, "nuxi"), ["build", appDir("nuxt")], {
    env: { ...process.env, KAVACH_APP_BUILD: buildDir, NUXT_TELEMETRY_DISABLED: "1" },
    maxBuffer: 64 << 20,
  }).then(() => join(buildDir, ".output", "server", "index.mjs"));
  const entry = await build;
  return startServer({ command: process.execPath, args: [entry], cwd: buildDir, env: kavachEnv(env), readyPath: "/repos/0" });
}

adapterSuite("Nuxt", start);

/** serve runs an h3 app on loopback. */
async function serve(app: ReturnType<typeof createApp>): Promise<{ url: string; server: Server }> {
  const server = createServer(toNodeListener(app));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** What a handler can see of the Authorization header, every way h3 and Node keep it. */
function seen(event: H3Event): unknown {
  return {
    grant: event.context.kavach?.grant,
    header: getRequestHeader(event, "authorization") ?? null,
    headers: event.headers.has("authorization"),
    raw: event.node.req.rawHeaders.some((h) => h.toLowerCase() === "authorization"),
  };
}

describe("Nuxt mapping", () => {
  test("as server middleware with useNitroApp it maps the route the router will match, for every method", async () => {
    const rec = recordingAuthorizer();
    const router = createRouter({ preemptive: true });
    let handled = 0;
    const handler = defineEventHandler((event) => {
      handled++;
      return seen(event);
    });
    router.get("/repos/:id", handler);
    router.post("/repos/:id/merge", handler);
    router.get("/files/**:path", handler);
    router.use("/**", handler); // Nuxt's page renderer
    const app = createApp();
    app.use(kavachMiddleware({ kavach: rec, useNitroApp: () => ({ router }) }));
    app.use(router.handler);
    const { url, server } = await serve(app);
    try {
      const call = (method: string, path: string) =>
        fetch(url + path, { method, headers: { Authorization: "Bearer kv_test" } }).then((r) => r.json());
      const saw = { grant: "perm_test", header: null, headers: false, raw: false };
      assert.deepEqual(await call("GET", "/repos/a%20b?x=1"), saw);
      assert.deepEqual(await call("POST", "/repos/42/merge"), saw);
      assert.deepEqual(await call("GET", "/files/a/b.txt"), saw);
      assert.deepEqual(await call("GET", "/about/team"), saw);
      assert.equal(handled, 4, "finding the route runs no handler");
      assert.deepEqual(
        rec.calls.map((c) => c.call),
        [
          { action: "get", resource: "http:repos:{id}", arguments: { id: "a b" } },
          { action: "post", resource: "http:repos:{id}:merge", arguments: { id: "42" } },
          { action: "get", resource: "http:files:{path}", arguments: { path: "a/b.txt" } },
          { action: "get", resource: "http:about:team" },
        ],
      );
      assert.equal(rec.calls[0].context?.ip, "127.0.0.1");
    } finally {
      server.close();
    }
  });

  test("without useNitroApp it maps the path; as a route's onRequest hook it maps the matched route", async () => {
    const rec = recordingAuthorizer();
    const guard = kavachMiddleware({ kavach: rec });
    const router = createRouter();
    router.get("/hooked/:id", defineEventHandler({ onRequest: [guard], handler: seen }));
    router.get("/repos/:id", defineEventHandler(seen));
    const app = createApp();
    const wide = createApp();
    wide.use(guard);
    wide.use(router.handler);
    app.use("/wide", wide.handler);
    app.use(router.handler);
    const { url, server } = await serve(app);
    try {
      const get = (path: string, token = "kv_test") => fetch(url + path, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal((await get("/wide/repos/7")).status, 200);
      assert.deepEqual(await (await get("/hooked/9")).json(), { grant: "perm_test", header: null, headers: false, raw: false });
      assert.deepEqual(
        rec.calls.map((c) => c.call),
        [
          { action: "get", resource: "http:repos:7" },
          { action: "get", resource: "http:hooked:{id}", arguments: { id: "9" } },
        ],
      );
      const refused = await fetch(url + "/hooked/9");
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get("www-authenticate"), 'Bearer realm="kavach"');
    } finally {
      server.close();
    }
  });

  test("protect leaves other requests alone", async () => {
    const rec = recordingAuthorizer();
    const app = createApp();
    app.use(kavachMiddleware({ kavach: rec, protect: (event) => event.path.startsWith("/api/") }));
    app.use(defineEventHandler((event) => ({ kavach: event.context.kavach?.code ?? null })));
    const { url, server } = await serve(app);
    try {
      assert.deepEqual(await (await fetch(url + "/health")).json(), { kavach: null });
      assert.equal((await fetch(url + "/api/x")).status, 401);
      assert.equal(rec.calls.length, 0);
    } finally {
      server.close();
    }
  });
});

test("importing @kavach/sdk/nuxt loads h3 and no other framework", () => {
  assert.deepEqual(packagesImportedBy("@kavach/sdk/nuxt"), ["h3", "jose"]);
});
