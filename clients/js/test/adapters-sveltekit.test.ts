import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import type { RequestEvent, ResolveOptions } from "@sveltejs/kit";
import { kavachHandle } from "../src/sveltekit.js";
import type { Decision } from "../src/types.js";
import { adapterSuite, recordingAuthorizer, type SuiteEnv, type TestApp } from "./adapter-suite.js";
import { appDir, binDir, kavachEnv, packagesImportedBy, startServer } from "./appserver.js";

const run = promisify(execFile);

/** The app is built once per run, into an output directory of its own, and served by `vite preview`. */
const app = appDir("sveltekit");
const outDir = join(".svelte-kit", `run-${process.pid}`);
let build: Promise<unknown> | undefined;
after(() => rmSync(join(app, outDir), { recursive: true, force: true }));

async function start(env: SuiteEnv): Promise<TestApp> {
  const buildEnv = { ...process.env, KAVACH_APP_BUILD: outDir };
  build ??= run(join(binDir, "vite"), ["build", "--logLevel", "warn"], { cwd: app, env: buildEnv, maxBuffer: 64 << 20 });
  await build;
  return startServer({
    command: join(binDir, "vite"),
    args: ["preview", "--host", "127.0.0.1", "--port", "{port}", "--strictPort"],
    cwd: app,
    env: { ...kavachEnv(env), KAVACH_APP_BUILD: outDir },
    readyPath: "/repos/0",
  });
}

adapterSuite("SvelteKit", start);

/** A request event as SvelteKit makes one, for the hook alone. */
function requestEvent(init: {
  path: string;
  routeId: string | null;
  params?: Record<string, string>;
  headers?: Record<string, string>;
  peer?: () => string;
}): RequestEvent {
  const url = new URL(init.path, "http://app.test");
  return {
    request: new Request(url, { headers: init.headers }),
    url,
    route: { id: init.routeId },
    params: init.params ?? {},
    locals: {},
    getClientAddress: init.peer ?? (() => "127.0.0.1"),
  } as unknown as RequestEvent;
}

/** resolve records the event the route would get. */
function resolver(): { resolve: (e: RequestEvent, o?: ResolveOptions) => Promise<Response>; events: RequestEvent[] } {
  const events: RequestEvent[] = [];
  return { events, resolve: async (e) => (events.push(e), new Response("ok")) };
}

/** The decision the hook left in locals (the app declares it in App.Locals). */
function decisionOf(e: RequestEvent): Decision | undefined {
  return (e.locals as { kavach?: Decision }).kavach;
}

describe("SvelteKit mapping", () => {
  test("the route id is mapped, groups and matchers left out; without a route the path is", async () => {
    const rec = recordingAuthorizer();
    const handle = kavachHandle({ kavach: rec });
    const auth = { Authorization: "Bearer kv_test" };
    const { resolve, events } = resolver();
    await handle({ event: requestEvent({ path: "/repos/42", routeId: "/(api)/repos/[id=integer]", params: { id: "42" }, headers: auth }), resolve });
    await handle({ event: requestEvent({ path: "/files/a/b", routeId: "/files/[...path]", params: { path: "a/b" }, headers: auth }), resolve });
    await handle({ event: requestEvent({ path: "/nowhere/7", routeId: null, headers: auth }), resolve });
    assert.deepEqual(
      rec.calls.map((c) => c.call),
      [
        { action: "get", resource: "http:repos:{id}", arguments: { id: "42" } },
        { action: "get", resource: "http:files:{path}", arguments: { path: "a/b" } },
        { action: "get", resource: "http:nowhere:7" },
      ],
    );
    assert.equal(events.length, 3);
    assert.equal(decisionOf(events[0])?.grant, "perm_test");
    assert.equal(events[0].request.headers.has("authorization"), false);
  });

  test("where the request's headers cannot change, resolve gets a copy of the request without Authorization", async () => {
    const rec = recordingAuthorizer();
    const handle = kavachHandle({ kavach: rec });
    const event = requestEvent({ path: "/repos/1", routeId: "/repos/[id]", params: { id: "1" }, headers: { Authorization: "Bearer kv_test", "X-Other": "kept" } });
    Object.defineProperty(event.request.headers, "delete", {
      value: () => {
        throw new TypeError("immutable");
      },
    });
    const { resolve, events } = resolver();
    const res = await handle({ event, resolve });
    assert.equal(res.status, 200);
    assert.notEqual(events[0].request, event.request);
    assert.equal(events[0].request.headers.has("authorization"), false);
    assert.equal(events[0].request.headers.get("x-other"), "kept");
    assert.equal(decisionOf(events[0])?.code, "ALLOWED");
  });

  test("an adapter without getClientAddress leaves the address out; protect leaves other requests alone", async () => {
    const rec = recordingAuthorizer();
    const handle = kavachHandle({ kavach: rec, protect: (e) => e.url.pathname.startsWith("/api/") });
    const { resolve, events } = resolver();
    const peer = () => {
      throw new Error("no address");
    };
    await handle({ event: requestEvent({ path: "/api/x", routeId: null, headers: { Authorization: "Bearer kv_test" }, peer }), resolve });
    assert.equal(rec.calls[0].context?.ip, undefined);
    const open = requestEvent({ path: "/health", routeId: "/health", headers: { Authorization: "Bearer kv_test" } });
    await handle({ event: open, resolve });
    assert.equal(rec.calls.length, 1);
    assert.equal(events[1], open);
    const refused = await handle({ event: requestEvent({ path: "/api/x", routeId: null }), resolve });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("www-authenticate"), 'Bearer realm="kavach"');
  });
});

test("importing @kavach/sdk/sveltekit loads no framework", () => {
  assert.deepEqual(packagesImportedBy("@kavach/sdk/sveltekit"), ["jose"]);
});
