import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { APIContext, MiddlewareNext } from "astro";
import { kavachMiddleware } from "../src/astro.js";
import type { Decision } from "../src/types.js";
import { adapterSuite, recordingAuthorizer, type SuiteEnv, type TestApp } from "./adapter-suite.js";
import { appDir, kavachEnv, packagesImportedBy, startServer } from "./appserver.js";

/** The app runs on Astro's dev server (a production build would need an adapter package). */
function start(env: SuiteEnv): Promise<TestApp> {
  const app = appDir("astro");
  return startServer({ command: process.execPath, args: [join(app, "dev.mjs")], cwd: app, env: kavachEnv(env), readyPath: "/repos/0" });
}

adapterSuite("Astro", start);

/** A middleware context as Astro makes one, for the middleware alone. */
function apiContext(init: {
  path: string;
  routePattern: string;
  params?: Record<string, string>;
  headers?: Record<string, string>;
  isPrerendered?: boolean;
  peer?: () => string;
}): APIContext {
  const url = new URL(init.path, "http://app.test");
  return {
    request: new Request(url, { headers: init.headers }),
    url,
    routePattern: init.routePattern,
    params: init.params ?? {},
    locals: {},
    isPrerendered: init.isPrerendered ?? false,
    get clientAddress() {
      return (init.peer ?? (() => "127.0.0.1"))();
    },
  } as unknown as APIContext;
}

/** next records what the middleware handed on. */
function recorder(): { next: MiddlewareNext; payloads: unknown[] } {
  const payloads: unknown[] = [];
  return { payloads, next: async (payload) => (payloads.push(payload), new Response("ok")) };
}

function decisionOf(c: APIContext): Decision | undefined {
  return (c.locals as { kavach?: Decision }).kavach;
}

describe("Astro mapping", () => {
  test("the route pattern is mapped; Astro's 404 page and no pattern map the path", async () => {
    const rec = recordingAuthorizer();
    const mw = kavachMiddleware({ kavach: rec });
    const auth = { Authorization: "Bearer kv_test" };
    const { next, payloads } = recorder();
    const first = apiContext({ path: "/repos/42", routePattern: "/repos/[id]", params: { id: "42" }, headers: auth });
    await mw(first, next);
    await mw(apiContext({ path: "/docs/a/b", routePattern: "/docs/[...slug]", params: { slug: "a/b" }, headers: auth }), next);
    await mw(apiContext({ path: "/nowhere/7", routePattern: "/404", headers: auth }), next);
    assert.deepEqual(
      rec.calls.map((c) => c.call),
      [
        { action: "get", resource: "http:repos:{id}", arguments: { id: "42" } },
        { action: "get", resource: "http:docs:{slug}", arguments: { slug: "a/b" } },
        { action: "get", resource: "http:nowhere:7" },
      ],
    );
    assert.deepEqual(payloads, [undefined, undefined, undefined], "with mutable headers the request is not rewritten");
    assert.equal(decisionOf(first)?.grant, "perm_test");
    assert.equal(first.request.headers.has("authorization"), false);
    assert.equal(rec.calls[0].context?.ip, "127.0.0.1");
  });

  test("where the request's headers cannot change, the middleware hands on a copy without Authorization", async () => {
    const rec = recordingAuthorizer();
    const mw = kavachMiddleware({ kavach: rec });
    const context = apiContext({ path: "/repos/1", routePattern: "/repos/[id]", params: { id: "1" }, headers: { Authorization: "Bearer kv_test", "X-Other": "kept" } });
    const original = context.request;
    Object.defineProperty(original.headers, "delete", {
      value: () => {
        throw new TypeError("immutable");
      },
    });
    const { next, payloads } = recorder();
    const res = (await mw(context, next)) as Response;
    assert.equal(res.status, 200);
    const handed = payloads[0] as Request;
    assert.ok(handed instanceof Request);
    assert.equal(context.request, handed, "endpoints read context.request");
    assert.equal(handed.headers.has("authorization"), false);
    assert.equal(handed.headers.get("x-other"), "kept");
    assert.equal(decisionOf(context)?.code, "ALLOWED");
  });

  test("prerendered routes and routes protect leaves out are not checked; no client address is no ip", async () => {
    const rec = recordingAuthorizer();
    const mw = kavachMiddleware({ kavach: rec, protect: (c) => c.url.pathname.startsWith("/api/") });
    const { next, payloads } = recorder();
    await mw(apiContext({ path: "/api/static", routePattern: "/api/static", isPrerendered: true }), next);
    await mw(apiContext({ path: "/health", routePattern: "/health" }), next);
    assert.equal(payloads.length, 2);
    const peer = () => {
      throw new Error("no address");
    };
    await mw(apiContext({ path: "/api/x", routePattern: "/api/x", headers: { Authorization: "Bearer kv_test" }, peer }), next);
    assert.equal(rec.calls.length, 1);
    assert.equal(rec.calls[0].context?.ip, undefined);
    const refused = (await mw(apiContext({ path: "/api/x", routePattern: "/api/x" }), next)) as Response;
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("www-authenticate"), 'Bearer realm="kavach"');
  });
});

test("importing @kavach/sdk/astro loads no framework", () => {
  assert.deepEqual(packagesImportedBy("@kavach/sdk/astro"), ["jose"]);
});
