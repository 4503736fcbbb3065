/**
 * KavachClient against a real `kavach serve`: delegations, approvals, the audit ledger
 * (paging, streamed exports, verification) and the AuthZEN routes.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { KavachClient, type AuditEvent, type AuditProgress } from "../src/index.js";
import { rejects, startKavach, type Kavach } from "./harness.js";

let k: Kavach;
let admin: KavachClient;

before(async () => {
  k = await startKavach();
  const root = new KavachClient({ url: k.url, apiKey: k.rootKey });
  const key = await root.apiKeys.create({ role: "admin", tenantId: "default", name: "js admin" });
  admin = new KavachClient({ url: k.url, apiKey: key.key ?? "" });
});
after(async () => {
  await k?.close();
});

async function agent(name: string, permissions: { resource: string; actions: string[]; constraints?: object }[], ownerId = "owner") {
  const a = await admin.agents.create({ name, ownerId, permissions });
  return { id: a.id ?? "", token: a.token ?? "" };
}

test("delegations: create, list, get, and a revoke that cascades down the chain", async () => {
  const a = await agent("lead", [{ resource: "http:repos:*", actions: ["get", "post"] }]);
  const b = await agent("helper", []);
  const c = await agent("sub-helper", []);
  const call = { action: "get", resource: "http:repos:9" };

  const ab = await admin.delegations.create({ fromAgentId: a.id, toAgentId: b.id, permissions: [{ resource: "http:repos:*", actions: ["get"] }] });
  assert.match(ab.id ?? "", /^dlg_/);
  assert.equal(ab.status, "active");
  assert.equal(ab.depth, 1);
  const bc = await admin.delegations.create({ fromAgentId: b.id, toAgentId: c.id, permissions: [{ resource: "http:repos:9", actions: ["get"] }] });
  assert.equal(bc.depth, 2);
  const allowed = await admin.authorize(c.id, call);
  assert.equal(allowed.code, "ALLOWED");
  assert.deepEqual(allowed.via, [ab.id, bc.id]);

  // More than was handed down is refused, naming why.
  const e = await rejects(
    admin.delegations.create({ fromAgentId: b.id, toAgentId: c.id, permissions: [{ resource: "http:repos:*", actions: ["post"] }] }),
  );
  assert.equal(e.status, 400);
  assert.equal(e.reason, "NOT_COVERED");

  assert.deepEqual((await admin.delegations.list({ agentId: b.id, direction: "from" })).delegations?.map((d) => d.id), [bc.id]);
  assert.deepEqual((await admin.delegations.list({ agentId: b.id, direction: "to" })).delegations?.map((d) => d.id), [ab.id]);
  assert.deepEqual((await admin.delegations.list({ agentId: b.id })).delegations?.map((d) => d.id).sort(), [ab.id, bc.id].sort());
  assert.equal((await admin.delegations.get(bc.id ?? "")).toAgentId, c.id);
  assert.equal((await admin.agents.capabilities(c.id)).capabilities[0]?.via?.length, 2);

  const revoked = await admin.delegations.revoke(ab.id ?? "");
  assert.equal(revoked.status, "revoked");
  assert.ok(revoked.revokedAt);
  assert.equal((await admin.authorize(b.id, call)).code, "NO_PERMISSION");
  assert.equal((await admin.authorize(c.id, call)).code, "NO_PERMISSION", "what was delegated through it stops too");
  assert.deepEqual((await admin.agents.capabilities(c.id)).capabilities, []);
  assert.equal((await rejects(admin.delegations.get("dlg_unknown"))).status, 404);
});

test("approvals: a gated call is APPROVAL_REQUIRED until approved, then allowed; a denied one stays refused", async () => {
  const a = await agent("gated", [{ resource: "http:deploys:*", actions: ["post"], constraints: { approval: { required: true } } }]);
  const call = { action: "post", resource: "http:deploys:prod", arguments: { version: "1.2.3" } };

  const first = await admin.authorize(a.id, call);
  assert.equal(first.allowed, false);
  assert.equal(first.code, "APPROVAL_REQUIRED");
  assert.match(first.approvalId ?? "", /^apr_/);
  const dry = await admin.check(a.id, { ...call, arguments: { version: "9" } });
  assert.equal(dry.code, "APPROVAL_REQUIRED");

  const pending = (await admin.approvals.list({ agentId: a.id })).approvals ?? [];
  assert.deepEqual(pending.map((p) => p.id), [first.approvalId], "a dry run opens no request");
  const req = await admin.approvals.get(first.approvalId ?? "");
  assert.equal(req.status, "pending");
  assert.equal(req.resource, "http:deploys:prod");
  assert.deepEqual(req.arguments, { version: "1.2.3" });

  const approved = await admin.approvals.approve(first.approvalId ?? "", { reason: "release", uses: 1 });
  assert.equal(approved.status, "approved");
  assert.equal(approved.reason, "release");
  const allowed = await admin.authorize(a.id, call);
  assert.equal(allowed.code, "ALLOWED");
  assert.equal(allowed.approvalId, first.approvalId);
  assert.equal((await rejects(admin.approvals.approve(first.approvalId ?? ""))).status, 409, "decided already");

  const other = await admin.authorize(a.id, { ...call, arguments: { version: "2.0.0" } });
  assert.equal(other.code, "APPROVAL_REQUIRED");
  assert.equal((await admin.approvals.deny(other.approvalId ?? "", { reason: "not today" })).status, "denied");
  assert.equal((await admin.authorize(a.id, { ...call, arguments: { version: "2.0.0" } })).code, "APPROVAL_DENIED");
  assert.deepEqual((await admin.approvals.list({ agentId: a.id, status: "denied" })).approvals?.map((p) => p.id), [other.approvalId]);
});

describe("audit", () => {
  let agentId = "";
  let total = 0;

  before(async () => {
    const a = await agent("audited", [{ resource: "http:repos:*", actions: ["get"] }]);
    agentId = a.id;
    // Arguments with commas, quotes and a newline, which CSV must quote.
    const args = { note: 'one, "two"\nthree', text: "naïve café ✓" };
    for (let i = 0; i < 7; i++) {
      await admin.authorize(agentId, { action: i % 3 ? "get" : "delete", resource: `http:repos:${i}`, arguments: args });
    }
    await admin.check(agentId, { action: "get", resource: "http:repos:99" });
    // The ledger commits decisions in batches: wait until all eight are in. The agent's
    // management events are committed with the change itself, so they are there already.
    let decisions = 0;
    for (let i = 0; i < 200; i++) {
      const events = (await admin.audit.query({ agentId, limit: 1000 })).events;
      decisions = events.filter((e) => e.kind === "decision").length;
      total = events.length;
      if (decisions >= 8) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(decisions, 8, `the ledger has ${decisions} decisions of the agent`);
  });

  test("query pages and all() returns each event once", async () => {
    const page = await admin.audit.query({ agentId, limit: 3 });
    assert.equal(page.events.length, 3);
    assert.ok(page.nextCursor);
    const seen: AuditEvent[] = [];
    for await (const e of admin.audit.all({ agentId, limit: 3 })) seen.push(e);
    assert.equal(seen.length, total);
    assert.equal(new Set(seen.map((e) => e.id)).size, total, "no event twice");
    const seqs = seen.map((e) => e.seq ?? 0);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => y - x), "newest first");
    const oldest = [];
    for await (const e of admin.audit.all({ agentId, limit: 2, order: "asc" })) oldest.push(e.seq);
    assert.deepEqual(oldest, [...seqs].reverse());
    const denied = (await admin.audit.query({ agentId, result: "denied" })).events;
    assert.equal(denied.length, 3);
    assert.ok(denied.every((e) => e.code === "NO_PERMISSION"));
    assert.equal((await admin.audit.query({ agentId, result: "check" })).events.length, 1);
  });

  test("export streams NDJSON, parsed as it arrives, the same events as the query", async () => {
    const ids: string[] = [];
    for await (const e of admin.audit.exportEvents({ agentId })) ids.push(e.id ?? "");
    assert.equal(ids.length, total);
    const queried = [];
    for await (const e of admin.audit.all({ agentId, order: "asc" })) queried.push(e.id);
    assert.deepEqual(ids, queried, "oldest first by default");

    const stream = await admin.audit.export({ agentId, format: "ndjson" });
    assert.ok(stream instanceof ReadableStream);
    const text = await new Response(stream).text();
    assert.equal(text.trim().split("\n").length, total);

    // Stopping early cancels the export instead of reading it to the end.
    for await (const e of admin.audit.exportEvents({ agentId })) {
      assert.ok(e.id);
      break;
    }
  });

  test("exportEvents yields the first event before the export has been read to the end", async () => {
    // The real answer, handed on in 5-byte chunks as they are pulled: lines and UTF-8
    // characters split across chunks, and a count of the bytes read so far.
    let read = 0;
    const trickle: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const bytes = new Uint8Array(await res.arrayBuffer());
      let at = 0;
      const body = new ReadableStream<Uint8Array>(
        {
          pull(ctl) {
            if (at >= bytes.length) return ctl.close();
            ctl.enqueue(bytes.subarray(at, at + 5));
            at += 5;
            read = at;
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const c = new KavachClient({ url: k.url, apiKey: k.rootKey, fetch: trickle });
    const whole = await new Response(await admin.audit.export({ agentId })).text();
    const events: AuditEvent[] = [];
    let readAtFirst = 0;
    for await (const e of c.audit.exportEvents({ agentId })) {
      if (!events.length) readAtFirst = read;
      events.push(e);
    }
    assert.equal(events.length, total);
    assert.ok(readAtFirst < whole.length / 2, `${readAtFirst} of ${whole.length} bytes read before the first event`);
    assert.ok(events.some((e) => e.arguments?.text === "naïve café ✓"), "characters split across chunks survive");
  });

  test("export streams CSV with a header row and JSON as one array", async () => {
    const csv = await new Response(await admin.audit.export({ agentId, format: "csv" })).text();
    const rows = csvRows(csv);
    assert.equal(rows.length, total + 1, "a header and one row per event");
    const header = rows[0];
    assert.ok(header.includes("id") && header.includes("action"), `header: ${header}`);
    const argsAt = header.indexOf("arguments");
    const resourceAt = header.indexOf("resource");
    const call = rows.find((r) => r[resourceAt] === "http:repos:1");
    assert.equal(call?.[argsAt], JSON.stringify({ note: 'one, "two"\nthree', text: "naïve café ✓" }), "a quoted field keeps its commas, quotes and newline");

    const json = JSON.parse(await new Response(await admin.audit.export({ agentId, format: "json" })).text());
    assert.ok(Array.isArray(json));
    assert.equal(json.length, total);
  });

  test("a bad filter rejects before any stream", async () => {
    let e = await rejects(admin.audit.export({ format: "xml" as "csv" }));
    assert.equal(e.status, 400);
    assert.equal(e.field, "format");
    e = await rejects(admin.audit.query({ since: "yesterday" }));
    assert.equal(e.field, "since");
  });

  test("verify walks the chain: ok, with progress lines", async () => {
    const progress: AuditProgress[] = [];
    const report = await admin.audit.verify({}, { onProgress: (p) => progress.push(p) });
    assert.equal(report.ok, true, report.problem);
    assert.ok(report.checked >= total);
    assert.ok(progress.length >= 1);
    assert.equal(progress[0].tenantId, "default");
    const lines = [];
    for await (const l of admin.audit.verifyLines({ from: "start" })) lines.push(l);
    assert.ok(lines.at(-1)?.report?.ok);
    assert.ok(lines.slice(0, -1).every((l) => l.progress));
  });
});

test("AuthZEN: configuration, evaluation, evaluations and the three searches", async () => {
  const a = await agent("zen", [{ resource: "http:repos:*", actions: ["get", "post"] }], "zen-owner");
  const subject = { type: "agent" as const, id: a.id };
  const resource = { type: "http:repos", id: "7" };

  const cfg = await admin.authzen.configuration();
  assert.equal(cfg.access_evaluation_endpoint, `${k.url}/access/v1/evaluation`);
  assert.equal(cfg.policy_decision_point, k.url);

  const yes = await admin.authzen.evaluation({ subject, action: { name: "get" }, resource }, { requestId: "r-1" });
  assert.equal(yes.decision, true);
  assert.equal(yes.context?.code, "ALLOWED");
  const no = await admin.authzen.evaluation({ subject, action: { name: "delete" }, resource });
  assert.equal(no.decision, false);
  assert.equal(no.context?.code, "NO_PERMISSION");
  const asAgent = await admin.authzen.evaluation({ subject, action: { name: "get" }, resource }, { bearer: a.token });
  assert.equal(asAgent.decision, true);

  const batch = await admin.authzen.evaluations({
    subject,
    resource,
    evaluations: [{ action: { name: "get" } }, { action: { name: "delete" } }, { action: { name: "post" } }],
    options: { evaluations_semantic: "deny_on_first_deny" },
  });
  assert.deepEqual(batch.evaluations.map((d) => d.decision), [true, false]);

  const actions = await admin.authzen.searchAction({ subject, resource });
  assert.deepEqual(actions.results.map((r) => r.name).sort(), ["get", "post"]);
  assert.equal(actions.page.next_token, "");
  const resources = await admin.authzen.searchResource({ subject, action: { name: "get" }, resource: { type: "http:repos" } });
  assert.deepEqual(resources.results.map((r) => `${r.type}:${r.id}`), ["http:repos:*"]);
  const subjects = await admin.authzen.searchSubject({ subject: { type: "agent" }, action: { name: "post" }, resource });
  assert.ok(subjects.results.some((s) => s.id === a.id));

  const e = await rejects(admin.authzen.evaluation({ subject, action: {} as never, resource }));
  assert.equal(e.status, 400);
  assert.equal(e.field, "action.name");
});


/** csvRows parses RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. */
function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  const endField = () => {
    row.push(field);
    field = "";
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") endField();
    else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      endField();
      rows.push(row);
      row = [];
    } else field += ch;
  }
  if (field || row.length) {
    endField();
    rows.push(row);
  }
  return rows;
}
