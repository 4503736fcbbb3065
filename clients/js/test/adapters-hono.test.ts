import { serve } from "@hono/node-server";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { Hono, type Context } from "hono";
import type { AddressInfo } from "node:net";
import { kavach, type KavachEnv } from "../src/hono.js";
import { adapterSuite, recordingAuthorizer, type SuiteEnv, type TestApp } from "./adapter-suite.js";
import { packageRoot } from "./harness.js";

/** The suite's app: the middleware app-wide, the decision read with c.get. */
function start(env: SuiteEnv): Promise<TestApp> {
  const app = new Hono<KavachEnv>();
  app.use(
    kavach({
      kavach: { url: env.kavachUrl, apiKey: env.appKey },
      trustedProxies: env.trustedProxies,
      accessTokens: { issuer: env.issuer, resource: env.resource },
    }),
  );
  const answer = (c: Context<KavachEnv>) => {
    const d = c.get("kavach");
    return c.json({ code: d.code, grant: d.grant, auditId: d.auditId, sawAuthorization: c.req.header("Authorization") !== undefined });
  };
  app.get("/repos/:id", answer);
  app.post("/repos/:id/merge", answer);
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info: AddressInfo) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

adapterSuite("Hono", start);

describe("Hono mapping", () => {
  const get = (app: Hono<KavachEnv>, path: string) => app.request(path, { headers: { Authorization: "Bearer kv_test" } });

  test("app-wide, the middleware maps the route that answers, mounted routes included; no route maps the path", async () => {
    const rec = recordingAuthorizer();
    const app = new Hono<KavachEnv>();
    app.use(kavach({ kavach: rec }));
    app.get("/repos/:id", (c) => c.text(c.get("kavach").grant ?? ""));
    const api = new Hono<KavachEnv>();
    api.get("/orgs/:org/repos/:repo{[a-z]+}", (c) => c.text("ok"));
    app.route("/api", api);
    assert.equal(await (await get(app, "/repos/42")).text(), "perm_test");
    assert.equal((await get(app, "/api/orgs/acme/repos/web")).status, 200);
    assert.equal((await get(app, "/nothing/here")).status, 404);
    assert.deepEqual(
      rec.calls.map((c) => c.call),
      [
        { action: "get", resource: "http:repos:{id}", arguments: { id: "42" } },
        { action: "get", resource: "http:api:orgs:{org}:repos:{repo}", arguments: { org: "acme", repo: "web" } },
        { action: "get", resource: "http:nothing:here" },
      ],
    );
  });

  test("with the route, the middleware maps that route", async () => {
    const rec = recordingAuthorizer();
    const app = new Hono<KavachEnv>();
    app.post("/repos/:id/merge", kavach({ kavach: rec }), (c) => c.text("ok"));
    const res = await app.request("/repos/7/merge", { method: "POST", headers: { Authorization: "Bearer kv_test" } });
    assert.equal(res.status, 200);
    assert.deepEqual(rec.calls[0].call, { action: "post", resource: "http:repos:{id}:merge", arguments: { id: "7" } });
  });
});

test("importing @kavach/sdk or an adapter's subpath loads no framework", async () => {
  const hook = `export async function resolve(s, c, next) {
    if (/^(hono|@hono\\/|express|fastify|next|react)(\\/|$)/.test(s)) throw new Error("loaded " + s);
    return next(s, c);
  }`;
  for (const spec of ["@kavach/sdk", "@kavach/sdk/hono", "@kavach/sdk/express", "@kavach/sdk/fastify", "@kavach/sdk/next"]) {
    const code = `import { register } from "node:module";
      register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hook)}));
      const m = await import(${JSON.stringify(spec)});
      if (Object.keys(m).length === 0) throw new Error("nothing exported");`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: packageRoot, encoding: "utf8" });
    assert.equal(r.status, 0, `${spec}: ${r.stderr}`);
  }
});
