import Fastify, { type FastifyRequest } from "fastify";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { kavach } from "../src/fastify.js";
import { adapterSuite, recordingAuthorizer, type SuiteEnv, type TestApp } from "./adapter-suite.js";

/** The suite's app: the plugin registered on the root context, the decision read from request.kavach. */
async function start(env: SuiteEnv): Promise<TestApp> {
  const app = Fastify();
  await app.register(
    kavach({
      kavach: { url: env.kavachUrl, apiKey: env.appKey },
      trustedProxies: env.trustedProxies,
      accessTokens: { issuer: env.issuer, resource: env.resource },
    }),
  );
  const answer = async (request: FastifyRequest) => ({
    code: request.kavach.code,
    grant: request.kavach.grant,
    auditId: request.kavach.auditId,
    sawAuthorization: request.headers.authorization !== undefined || request.raw.rawHeaders.some((h) => h.toLowerCase() === "authorization"),
  });
  app.get("/repos/:id", answer);
  app.post("/repos/:id/merge", answer);
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  return { url, close: () => app.close() };
}

adapterSuite("Fastify", start);

describe("Fastify mapping", () => {
  test("the hook maps the route, prefixes and a wildcard included, and an unmatched request's path", async () => {
    const rec = recordingAuthorizer();
    const app = Fastify();
    await app.register(kavach({ kavach: rec }));
    app.get("/repos/:id", async (request) => request.kavach.grant);
    app.get("/files/*", async () => "ok");
    await app.register(async (api) => void api.post("/orgs/:org/repos/:repo", async () => "ok"), { prefix: "/api" });
    const headers = { authorization: "Bearer kv_test" };
    assert.equal((await app.inject({ url: "/repos/42?x=1", headers })).body, "perm_test");
    assert.equal((await app.inject({ url: "/files/a/b.txt", headers })).statusCode, 200);
    assert.equal((await app.inject({ method: "POST", url: "/api/orgs/acme/repos/web", headers })).statusCode, 200);
    assert.equal((await app.inject({ url: "/nothing/here?x=1", headers })).statusCode, 404);
    assert.deepEqual(
      rec.calls.map((c) => c.call),
      [
        { action: "get", resource: "http:repos:{id}", arguments: { id: "42" } },
        { action: "get", resource: "http:files:{rest}", arguments: { rest: "a/b.txt" } },
        { action: "post", resource: "http:api:orgs:{org}:repos:{repo}", arguments: { org: "acme", repo: "web" } },
        { action: "get", resource: "http:nothing:here" },
      ],
    );
    await app.close();
  });

  test("registered in a child context, the plugin guards that context only", async () => {
    const rec = recordingAuthorizer();
    const app = Fastify();
    await app.register(async (scope) => {
      await scope.register(kavach({ kavach: rec }));
      scope.get("/guarded", async () => "ok");
    });
    app.get("/open", async () => "ok");
    assert.equal((await app.inject({ url: "/guarded" })).statusCode, 401);
    assert.equal((await app.inject({ url: "/open" })).statusCode, 200);
    await app.close();
  });
});
