/**
 * Trace propagation without OpenTelemetry registered: @opentelemetry/api is installed but no
 * propagator or context manager is, so nothing is sent and everything works as before.
 */
import { context, ROOT_CONTEXT, trace, TraceFlags } from "@opentelemetry/api";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { KavachClient } from "../src/client.js";
import { Guard } from "../src/guard.js";
import { authorizeCalls } from "../src/mcpcalls.js";
import { callerSpanId, callerTraceId, callerTraceparent, metaTraceparent, startFakeKavach, type FakeKavach } from "./tracefake.js";

let fake: FakeKavach;
let client: KavachClient;

before(async () => {
  fake = await startFakeKavach();
  client = new KavachClient({ url: fake.url, apiKey: "kva_test" });
});
after(async () => {
  await fake?.close();
});

test("without OpenTelemetry registered, no trace context is sent and calls succeed", async () => {
  const span = trace.setSpanContext(ROOT_CONTEXT, { traceId: callerTraceId, spanId: callerSpanId, traceFlags: TraceFlags.SAMPLED });
  const d = await context.with(span, () => client.authorize("agt_1", { action: "get", resource: "r" }));
  assert.equal(d.allowed, true);
  const v = await new Guard({ kavach: client }).check({
    method: "GET",
    path: "/repos/42",
    authorization: "Bearer kv_token",
    header: (n) => (n === "traceparent" ? callerTraceparent : undefined),
  });
  assert.equal(v.allowed, true);
  const verdict = await authorizeCalls({ kavach: client, server: "files", onError: () => {} }, { agentId: "agt_1", context: {} }, {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "read_file", _meta: { traceparent: metaTraceparent } },
  });
  assert.equal(verdict.refusal, undefined);
  assert.equal(fake.seen.length, 3);
  for (const s of fake.seen) assert.equal(s.traceparent, undefined, `${s.path} carried a traceparent`);
});
