import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createAgent, startKavach, type Kavach } from "./harness.js";

let k: Kavach;
before(async () => {
  k = await startKavach();
});
after(async () => {
  await k?.close();
});

test("the harness runs a real kavach serve with an app key and an agent", async () => {
  const app = await k.apiKey("app");
  assert.match(app, /^kva_/);
  const a = await createAgent(k, [{ resource: "http:repos:*", actions: ["get"] }]);
  assert.match(a.id, /^agt_/);
  assert.match(a.token, /^kv_/);
  const d = await k.api<{ allowed: boolean; code: string }>(
    "POST",
    "/v1/authorize",
    { agentId: a.id, action: "get", resource: "http:repos:1" },
    app,
  );
  assert.equal(d.code, "ALLOWED");
});
