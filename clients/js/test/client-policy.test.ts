/**
 * KavachClient's policy replay against a real `kavach serve`: a candidate bundle built by
 * `kavach bundle build` re-decides the recorded decisions, roles and bad bundles are
 * refused, and the wait is the caller's to end, not the client's timeout. The same bundle
 * as a shadow revision shows in the policy status.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { KavachClient, KavachUnavailableError, type ReplayReport, type ShadowStatus } from "../src/index.js";
import { kavachBinary, rejects, startKavach, type Kavach } from "./harness.js";

const run = promisify(execFile);

// The candidate adds one rule to the server's policy: no deletes under prod.
const rules = `package kavach.custom

import rego.v1

deny contains {"code": "POLICY_DENIED", "reason": "no deletes in prod"} if {
\tinput.action == "delete"
\tinput.segs[1] == "prod"
}
`;

let k: Kavach;
let admin: KavachClient;
let root: KavachClient; // replays: a candidate's rules read every tenant's agents
let bundle: Uint8Array;
const dir = mkdtempSync(join(tmpdir(), "kavach-js-replay-"));

before(async () => {
  const src = join(dir, "src");
  mkdirSync(join(src, "kavach", "custom"), { recursive: true });
  writeFileSync(join(src, "kavach", "custom", "rules.rego"), rules);
  const out = join(dir, "candidate.tar.gz");
  await run(await kavachBinary(), ["bundle", "build", src, "-o", out, "--revision", "b"]);
  bundle = readFileSync(out);

  k = await startKavach();
  root = new KavachClient({ url: k.url, apiKey: k.rootKey });
  const key = await root.apiKeys.create({ role: "admin", tenantId: "default", name: "js admin" });
  admin = new KavachClient({ url: k.url, apiKey: key.key ?? "" });

  const a = await admin.agents.create({ name: "dba", ownerId: "owner", permissions: [{ resource: "db:*", actions: ["read", "delete"] }] });
  assert.equal((await admin.authorize(a.id ?? "", { action: "delete", resource: "db:prod:orders" })).code, "ALLOWED");
  assert.equal((await admin.authorize(a.id ?? "", { action: "read", resource: "db:prod:orders" })).code, "ALLOWED");
  // The ledger commits decisions in batches: wait until both are in.
  for (let i = 0; ; i++) {
    const events = (await admin.audit.query({ agentId: a.id, limit: 100 })).events;
    if (events.filter((e) => e.kind === "decision").length >= 2) break;
    assert.ok(i < 200, "the two decisions never reached the ledger");
    await sleep(50);
  }
});
after(async () => {
  await k?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** assertDeleteDenied checks the report of the candidate over the two recorded decisions. */
function assertDeleteDenied(rep: ReplayReport) {
  assert.equal(rep.candidateRevision, "b");
  assert.ok(rep.activeRevision);
  assert.equal(rep.read, 2);
  assert.equal(rep.replayed, 2);
  assert.equal(rep.changed, 1);
  assert.deepEqual(
    rep.matrix.filter((m) => m.from !== m.to),
    [{ from: "ALLOWED", to: "POLICY_DENIED", count: 1 }],
  );
  assert.equal(rep.groups.length, 1);
  const [g] = rep.groups;
  assert.equal(g.to, "POLICY_DENIED");
  assert.equal(g.from, "ALLOWED");
  assert.equal(g.action, "delete");
  assert.equal(g.count, 1);
  assert.equal(g.exampleReason, "no deletes in prod");
  assert.ok(g.exampleAuditId);
  assert.equal(g.candidateRules?.length, 1);
  assert.match(g.candidateRules[0], /^bundle\/kavach\/custom\/rules\.rego:5: deny contains /, "the rule that held, by its place in the bundle");
}

test("replayPolicy: a candidate that denies deletes in prod changes the recorded delete, not the read", async () => {
  const rep = await root.replayPolicy(bundle);
  assertDeleteDenied(rep);
  assert.deepEqual(rep.unreplayable, []);

  // The same bytes as a Blob or an ArrayBuffer, and with a query.
  assertDeleteDenied(await root.replayPolicy(new Blob([new Uint8Array(bundle)])));
  assertDeleteDenied(await root.replayPolicy(new Uint8Array(bundle).buffer, { tenantId: "default", since: new Date(Date.now() - 3_600_000), top: 5 }));
  assertDeleteDenied(await root.replayPolicy(bundle, { since: "1h" }));
  const none = await root.replayPolicy(bundle, { since: new Date(Date.now() + 3_600_000) });
  assert.equal(none.read, 0, "nothing was recorded after an hour from now");
  const e = await rejects(root.replayPolicy(bundle, { since: new Date(NaN) }));
  assert.equal(e.status, 400);
  assert.equal(e.field, "since");
});

test("replayPolicy: only root may replay, and bytes that are not a bundle are refused naming the bundle", async () => {
  const user = await admin.apiKeys.create({ role: "user", ownerId: "alice", name: "js user" });
  const asUser = new KavachClient({ url: k.url, apiKey: user.key ?? "" });
  for (const c of [asUser, admin]) {
    const forbidden = await rejects(c.replayPolicy(bundle));
    assert.equal(forbidden.status, 403);
    assert.ok(forbidden.isForbidden);
  }

  const garbage = await rejects(root.replayPolicy(new TextEncoder().encode("this is not a tar.gz")));
  assert.equal(garbage.status, 400);
  assert.equal(garbage.field, "bundle");
  assert.ok(garbage.isInvalidInput);
});

test("replayPolicy: the client's timeout does not cut the wait short; the caller's signal does", async () => {
  // Every answer arrives 300 ms late: longer than the client's 50 ms timeout.
  const late: typeof fetch = async (input, init) => {
    await sleep(300, undefined, { signal: init?.signal ?? undefined });
    return fetch(input, init);
  };
  const c = new KavachClient({ url: k.url, apiKey: k.rootKey, fetch: late, timeoutMs: 50 });
  await assert.rejects(c.healthz(), KavachUnavailableError, "an ordinary request is timed");
  assertDeleteDenied(await c.replayPolicy(bundle));

  const ac = new AbortController();
  const p = c.replayPolicy(bundle, {}, { signal: ac.signal });
  setTimeout(() => ac.abort(new Error("caller gave up")), 100);
  await assert.rejects(p, /caller gave up/);
});

test("policyStatus: the candidate as a shadow revision counts its disagreements", async () => {
  const shadowed = await startKavach({ args: ["--shadow-bundle", join(dir, "candidate.tar.gz")] });
  try {
    const c = new KavachClient({ url: shadowed.url, apiKey: shadowed.rootKey });
    const a = await c.agents.create({ name: "dba", ownerId: "owner", tenantId: "default", permissions: [{ resource: "db:*", actions: ["read", "delete"] }] });
    assert.equal((await c.authorize(a.id ?? "", { action: "delete", resource: "db:prod:orders" })).code, "ALLOWED", "the shadow never changes an answer");
    let shadow: ShadowStatus | undefined;
    for (let i = 0; ; i++) {
      shadow = (await c.policyStatus()).shadow;
      if (shadow && shadow.disagreed >= 1) break;
      assert.ok(i < 200, `no disagreement counted: ${JSON.stringify(shadow)}`);
      await sleep(50);
    }
    assert.equal(shadow.revision, "b");
    assert.deepEqual(shadow.byCodes, [{ active: "ALLOWED", shadow: "POLICY_DENIED", count: 1 }]);
    assert.equal(shadow.examples[0]?.agentId, a.id);
    assert.equal(shadow.examples[0]?.shadowReason, "no deletes in prod");
    assert.equal((await admin.policyStatus()).shadow, undefined, "a server without one reports none");
  } finally {
    await shadowed.close();
  }
});
