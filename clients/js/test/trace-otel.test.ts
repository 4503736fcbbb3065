/**
 * Trace propagation with OpenTelemetry registered (a W3C propagator and an async-hooks
 * context manager): the client sends the active trace, the adapters continue an incoming
 * request's trace, and MCP tool calls are decided in their params._meta trace.
 */
import { context, propagation, ROOT_CONTEXT, trace, TraceFlags } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import express from "express";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { KavachClient } from "../src/client.js";
import { kavach as expressKavach } from "../src/express.js";
import { Guard } from "../src/guard.js";
import { authorizeCalls } from "../src/mcpcalls.js";
import { withIncomingTrace } from "../src/trace.js";
import {
  callerSpanId,
  callerTraceId,
  callerTraceparent,
  metaTraceId,
  metaTraceparent,
  startFakeKavach,
  traceIdOf,
  type FakeKavach,
} from "./tracefake.js";

let fake: FakeKavach;
let client: KavachClient;

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  fake = await startFakeKavach();
  client = new KavachClient({ url: fake.url, apiKey: "kva_test" });
});
after(async () => {
  await fake?.close();
  context.disable();
  propagation.disable();
});

/** lastTrace is the trace id of the last request the fake Kavach received. */
function lastTrace(): string | undefined {
  return traceIdOf(fake.seen.at(-1)?.traceparent);
}

const call = { action: "get", resource: "http:repos:42" };

test("client: an authorize call sends the active trace's traceparent, and none outside a trace", async () => {
  const span = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: callerTraceId,
    spanId: callerSpanId,
    traceFlags: TraceFlags.SAMPLED,
  });
  await context.with(span, () => client.authorize("agt_1", call));
  assert.equal(fake.seen.at(-1)?.traceparent, callerTraceparent);
  await client.authorizeToken("kv_token", call);
  assert.equal(fake.seen.at(-1)?.traceparent, undefined, "no trace is made up");
});

test("guard: a request's traceparent header is continued in the authorize call", async () => {
  const guard = new Guard({ kavach: client });
  const headers: Record<string, string> = { traceparent: callerTraceparent, tracestate: "vendor=1" };
  const v = await guard.check({ method: "GET", path: "/repos/42", authorization: "Bearer kv_token", header: (n) => headers[n] });
  assert.equal(v.allowed, true);
  assert.equal(lastTrace(), callerTraceId);
  assert.equal(fake.seen.at(-1)?.tracestate, "vendor=1");
});

test("express: the middleware continues the incoming request's trace", async () => {
  const app = express();
  app.get("/repos/:id", expressKavach({ kavach: client }), (_req, res) => {
    res.json({ ok: true });
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/repos/42`;
    const res = await fetch(url, { headers: { Authorization: "Bearer kv_token", traceparent: callerTraceparent } });
    assert.equal(res.status, 200);
    assert.equal(lastTrace(), callerTraceId);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test("mcp: a tool call is decided in its params._meta trace, else in the request's", async () => {
  const asker = { kavach: client, server: "files", onError: () => {} };
  const who = { agentId: "agt_1", context: {} };
  const header = (n: string) => (n === "traceparent" ? callerTraceparent : undefined);
  const withMeta = {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "read_file", arguments: {}, _meta: { traceparent: metaTraceparent } },
  };
  const without = { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "read_file", arguments: {} } };
  await withIncomingTrace(header, () => authorizeCalls(asker, who, [withMeta, without]));
  const [a, b] = fake.seen.slice(-2);
  assert.equal(traceIdOf(a?.traceparent), metaTraceId, "the call with _meta");
  assert.equal(traceIdOf(b?.traceparent), callerTraceId, "the call without _meta");
});
