/**
 * KavachClient against a real `kavach serve`: tenants, API keys, agents, tokens, decisions,
 * typed errors, a stopped server, and ids that try to reach another route.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, before, describe, test } from "node:test";
import { KavachClient, KavachError, KavachUnavailableError, isKavachError, type Permission } from "../src/index.js";
import { rejects, startKavach, type Kavach } from "./harness.js";

let k: Kavach;
let root: KavachClient;
let admin: KavachClient;

before(async () => {
  k = await startKavach();
  root = new KavachClient({ url: k.url, apiKey: k.rootKey });
  const key = await root.apiKeys.create({ role: "admin", tenantId: "default", name: "js admin" });
  admin = new KavachClient({ url: k.url, apiKey: key.key ?? "" });
});
after(async () => {
  await k?.close();
});

const repos: Permission[] = [{ resource: "http:repos:*", actions: ["get"] }];


test("operations: healthz, readyz and the policy status", async () => {
  assert.equal((await root.healthz()).status, "ok");
  assert.equal((await root.readyz()).status, "ready");
  const st = await admin.policyStatus();
  assert.ok(st.revision, "a revision is active");
  assert.equal(st.bundleLoaded, true);
  assert.equal(typeof st.activations, "number");
});

test("tenants: root creates, lists and gets one", async () => {
  const t = await root.tenants.create({ id: "js-client", name: "JS client" });
  assert.equal(t.id, "js-client");
  assert.equal(t.name, "JS client");
  const ids = (await root.tenants.list()).tenants?.map((x) => x.id);
  assert.ok(ids?.includes("js-client") && ids.includes("default"), `tenants: ${ids}`);
  assert.equal((await root.tenants.get("js-client")).name, "JS client");
  // An admin sees its own tenant only.
  assert.deepEqual((await admin.tenants.list()).tenants?.map((x) => x.id), ["default"]);
  assert.equal((await rejects(admin.tenants.get("js-client"))).status, 404);
});

test("API keys: an app key and a user key are made, listed and revoked", async () => {
  const app = await admin.apiKeys.create({ role: "app", name: "js app" });
  assert.match(app.key ?? "", /^kva_/);
  assert.equal(app.role, "app");
  const user = await admin.apiKeys.create({ role: "user", ownerId: "alice", name: "js user" });
  assert.equal(user.ownerId, "alice");
  const listed = (await admin.apiKeys.list()).keys ?? [];
  assert.ok(listed.some((x) => x.id === app.id) && listed.some((x) => x.id === user.id));
  assert.ok(listed.every((x) => !("key" in x)), "no secret is listed");
  assert.deepEqual(
    (await admin.apiKeys.list({ ownerId: "alice" })).keys?.map((x) => x.id),
    [user.id],
  );

  const appClient = new KavachClient({ url: k.url, apiKey: app.key ?? "" });
  assert.equal((await appClient.policyStatus()).bundleLoaded, true);
  const revoked = await admin.apiKeys.revoke(app.id ?? "");
  assert.ok(revoked.revokedAt);
  const e = await rejects(appClient.policyStatus());
  assert.equal(e.status, 401);
  assert.ok(e.isUnauthenticated);
});

describe("agents", () => {
  test("create, get, list with filters and pages, update, capabilities, revoke", async () => {
    const made = [];
    for (const name of ["pager-1", "pager-2", "pager-3"]) {
      made.push(await admin.agents.create({ name, ownerId: "pager", permissions: repos, metadata: { team: "js" } }));
    }
    const a = made[0];
    assert.match(a.id ?? "", /^agt_/);
    assert.match(a.token ?? "", /^kv_/);
    assert.equal(a.status, "active");
    assert.equal(a.metadata?.team, "js");
    assert.match(a.permissions?.[0].id ?? "", /^perm_/);

    const got = await admin.agents.get(a.id ?? "");
    assert.equal(got.name, "pager-1");
    assert.ok(!("token" in got), "get never shows the token");

    const first = await admin.agents.list({ ownerId: "pager", limit: 2 });
    assert.deepEqual(first.agents?.map((x) => x.name), ["pager-1", "pager-2"]);
    assert.ok(first.nextCursor, "a second page");
    const second = await admin.agents.list({ ownerId: "pager", limit: 2, cursor: first.nextCursor });
    assert.deepEqual(second.agents?.map((x) => x.name), ["pager-3"]);
    assert.ok(!second.nextCursor, "the last page");
    const all = [];
    for await (const x of admin.agents.all({ ownerId: "pager", limit: 1 })) all.push(x.name);
    assert.deepEqual(all, ["pager-1", "pager-2", "pager-3"]);

    const updated = await admin.agents.update(a.id ?? "", {
      name: "pager-1b",
      permissions: [...repos, { resource: "http:issues:*", actions: ["get", "post"] }],
    });
    assert.equal(updated.name, "pager-1b");
    assert.equal(updated.permissions?.length, 2);
    assert.equal(updated.permissions?.[0].id, a.permissions?.[0].id, "a permission keeps its id");

    const caps = await admin.agents.capabilities(a.id ?? "");
    assert.equal(caps.agentId, a.id);
    assert.deepEqual(
      caps.capabilities.map((c) => c.resource),
      ["http:repos:*", "http:issues:*"],
    );

    const revoked = await admin.agents.revoke(made[2].id ?? "");
    assert.equal(revoked.status, "revoked");
    assert.equal((await admin.agents.revoke(made[2].id ?? "")).status, "revoked", "revoking twice is not an error");
    const active = await admin.agents.list({ ownerId: "pager", status: "active" });
    assert.deepEqual(active.agents?.map((x) => x.name), ["pager-1b", "pager-2"]);
    const gone = await admin.agents.list({ ownerId: "pager", status: "revoked" });
    assert.deepEqual(gone.agents?.map((x) => x.name), ["pager-3"]);
    assert.deepEqual((await admin.agents.capabilities(made[2].id ?? "")).capabilities, []);
    const e = await rejects(admin.agents.validateToken(made[2].token ?? ""));
    assert.equal(e.status, 401);
    assert.equal(e.reason, "AGENT_REVOKED");
  });

  test("validateToken answers the token's agent; rotate ends the old token after its grace", async () => {
    const a = await admin.agents.create({ name: "rotating", ownerId: "rot", permissions: repos });
    assert.equal((await admin.agents.validateToken(a.token ?? "")).id, a.id);

    const r1 = await admin.agents.rotate(a.id ?? "");
    assert.match(r1.token ?? "", /^kv_/);
    assert.equal(r1.agent?.id, a.id);
    let e = await rejects(admin.agents.validateToken(a.token ?? ""));
    assert.equal(e.status, 401);
    assert.equal(e.reason, "TOKEN_INVALID");
    assert.equal((await admin.agents.validateToken(r1.token ?? "")).id, a.id);

    const r2 = await admin.agents.rotate(a.id ?? "", { gracePeriod: "1s" });
    assert.equal((await admin.agents.validateToken(r1.token ?? "")).id, a.id, "within the grace period");
    assert.equal((await admin.agents.validateToken(r2.token ?? "")).id, a.id);
    await new Promise((r) => setTimeout(r, 1300));
    e = await rejects(admin.agents.validateToken(r1.token ?? ""));
    assert.equal(e.reason, "TOKEN_INVALID", "after the grace period");
    assert.equal((await admin.agents.validateToken(r2.token ?? "")).id, a.id);
  });
});

describe("decisions", () => {
  test("authorize by id: allowed, and refused with a code", async () => {
    const a = await admin.agents.create({ name: "decider", ownerId: "dec", permissions: repos });
    const ok = await admin.authorize(a.id ?? "", { action: "get", resource: "http:repos:1" }, { ip: "203.0.113.7" });
    assert.equal(ok.allowed, true);
    assert.equal(ok.code, "ALLOWED");
    assert.equal(ok.grant, a.permissions?.[0].id);
    assert.ok(ok.auditId);
    const no = await admin.authorize(a.id ?? "", { action: "delete", resource: "http:repos:1" });
    assert.equal(no.allowed, false);
    assert.equal(no.code, "NO_PERMISSION");
    const missing = await admin.authorize("agt_nobody", { action: "get", resource: "http:repos:1" });
    assert.equal(missing.code, "AGENT_NOT_FOUND");
  });

  test("authorize by token: the agent that presented its kv_ token", async () => {
    const a = await admin.agents.create({ name: "bearer", ownerId: "dec", permissions: repos });
    const ok = await admin.authorizeToken(a.token ?? "", { action: "get", resource: "http:repos:2" }, { ip: "203.0.113.8" });
    assert.equal(ok.code, "ALLOWED");
    const bad = await admin.authorizeToken("kv_not-a-token", { action: "get", resource: "http:repos:2" });
    assert.equal(bad.code, "TOKEN_INVALID");
    const asAgent = await admin.authorizeAsAgent(a.token ?? "", { action: "get", resource: "http:repos:2" });
    assert.equal(asAgent.code, "ALLOWED");
  });

  test("a dry run takes no rate slot", async () => {
    const a = await admin.agents.create({
      name: "limited",
      ownerId: "dec",
      permissions: [{ resource: "http:repos:*", actions: ["get"], constraints: { rateLimit: { max: 1, window: "1m" } } }],
    });
    const call = { action: "get", resource: "http:repos:3" };
    for (let i = 0; i < 3; i++) assert.equal((await admin.check(a.id ?? "", call)).code, "ALLOWED", `dry run ${i}`);
    assert.equal((await admin.authorize(a.id ?? "", { ...call, dryRun: true })).code, "ALLOWED");
    assert.equal((await admin.authorize(a.id ?? "", call)).code, "ALLOWED", "the one slot is still free");
    const limited = await admin.authorize(a.id ?? "", call);
    assert.equal(limited.code, "RATE_LIMITED");
    assert.ok(limited.retryAfter);
  });
});

describe("typed errors", () => {
  test("400 names the field of a bad body", async () => {
    let e = await rejects(
      admin.agents.create({ name: "bad", ownerId: "x", permissions: [{ resource: "http:repos:*", actions: ["get"], constraints: { rateLimit: { max: 1, window: "soon" } } }] }),
    );
    assert.equal(e.status, 400);
    assert.equal(e.code, "invalid_input");
    assert.ok(e.isInvalidInput);
    assert.equal(e.field, "permissions[0].constraints.rateLimit.window");
    assert.equal(e.problem.type, "urn:kavach:problem:invalid_input");
    assert.ok(e.problem.detail && e.message === e.problem.detail);

    e = await rejects(admin.agents.create({ name: "bad", bogus: 1 } as never));
    assert.equal(e.field, "bogus");
    assert.equal(e.reason, "UNKNOWN_FIELD");
  });

  test("401 for a bad key", async () => {
    const e = await rejects(new KavachClient({ url: k.url, apiKey: "kva_not-a-key" }).agents.list());
    assert.equal(e.status, 401);
    assert.equal(e.code, "unauthenticated");
  });

  test("404 for an unknown agent; another owner's agent is not found for a user key", async () => {
    let e = await rejects(admin.agents.get("agt_unknown"));
    assert.equal(e.status, 404);
    assert.ok(e.isNotFound && isKavachError(e, "not_found"));

    const bobs = await admin.agents.create({ name: "bob's", ownerId: "bob", permissions: repos });
    const alice = new KavachClient({ url: k.url, apiKey: await k.apiKey("user", "alice") });
    const mine = await alice.agents.create({ name: "alice's", permissions: repos });
    assert.equal(mine.ownerId, "alice");
    assert.equal((await alice.agents.get(mine.id ?? "")).id, mine.id);
    // One at a time: a promise that rejects before it is awaited is an unhandled rejection.
    for (const call of [
      () => alice.agents.get(bobs.id ?? ""),
      () => alice.agents.capabilities(bobs.id ?? ""),
      () => alice.agents.revoke(bobs.id ?? ""),
    ]) {
      e = await rejects(call());
      assert.equal(e.status, 404);
    }
    assert.ok((await alice.agents.list()).agents?.every((x) => x.ownerId === "alice"));
    assert.equal((await admin.agents.get(bobs.id ?? "")).status, "active");
    assert.equal((await alice.authorize(bobs.id ?? "", { action: "get", resource: "http:repos:1" })).code, "AGENT_NOT_FOUND");
  });

  test("409 for a revoked agent's update, 403 for an app key creating an agent", async () => {
    const a = await admin.agents.create({ name: "gone", ownerId: "x", permissions: repos });
    await admin.agents.revoke(a.id ?? "");
    let e = await rejects(admin.agents.update(a.id ?? "", { name: "back" }));
    assert.equal(e.status, 409);
    assert.ok(e.isConflict);
    const app = new KavachClient({ url: k.url, apiKey: await k.apiKey("app") });
    e = await rejects(app.agents.create({ name: "no" }));
    assert.equal(e.status, 403);
    assert.ok(e.isForbidden);
  });
});

describe("path ids", () => {
  test("an id with / or .. reaches no other route", async () => {
    const victim = await admin.agents.create({ name: "victim", ownerId: "v", permissions: repos });
    const id = victim.id ?? "";
    // Unencoded, POST /v1/delegations/../agents/{id}/revoke is POST /v1/agents/{id}/revoke.
    for (const evil of [`../agents/${id}`, `..%2Fagents%2F${id}`, `%2e%2e/agents/${id}`, `x/../../agents/${id}`]) {
      const e = await rejects(admin.delegations.revoke(evil));
      assert.ok(e.status === 404 || e.status === 400, `${evil}: ${e.status} ${e.message}`);
    }
    for (const evil of [`${id}/revoke`, `${id}?x=1`, `${id}#x`]) {
      const e = await rejects(admin.agents.get(evil));
      assert.ok(e.status === 404 || e.status === 400, `${evil}: ${e.status}`);
    }
    // Segments that URLs resolve whatever their encoding are refused before sending.
    for (const evil of ["", ".", "..", "\ud800"]) {
      const e = await rejects(admin.agents.revoke(evil));
      assert.equal(e.status, 400);
      assert.equal(e.field, "id");
    }
    assert.equal((await admin.agents.get(id)).status, "active", "the victim is untouched");
    assert.equal(admin.path`/v1/agents/${"a/b?c#d%2F"}/revoke`, "/v1/agents/a%2Fb%3Fc%23d%252F/revoke");
  });
});

describe("unavailable", () => {
  test("a request that gets no answer in time is KavachUnavailableError", async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const addr = silent.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    try {
      const c = new KavachClient({ url: `http://127.0.0.1:${port}`, apiKey: k.rootKey, timeoutMs: 300 });
      await assert.rejects(c.healthz(), (err: unknown) => {
        assert.ok(err instanceof KavachUnavailableError, String(err));
        assert.match(err.message, /no answer within 300 ms/);
        return true;
      });
      // The caller's own cancellation is its own, not an outage.
      const ac = new AbortController();
      const p = c.healthz({ signal: ac.signal });
      ac.abort(new Error("caller gave up"));
      await assert.rejects(p, /caller gave up/);
    } finally {
      silent.close();
    }
  });

  test("a stopped server is KavachUnavailableError, and the client works again once it is back", async () => {
    await k.stop();
    try {
      await assert.rejects(admin.agents.list(), (err: unknown) => {
        assert.ok(err instanceof KavachUnavailableError, String(err));
        assert.ok(!(err instanceof KavachError));
        return true;
      });
      await assert.rejects(admin.authorize("agt_x", { action: "get", resource: "http:repos:1" }), KavachUnavailableError);
    } finally {
      await k.restart();
    }
    assert.equal((await admin.healthz()).status, "ok");
  });
});
