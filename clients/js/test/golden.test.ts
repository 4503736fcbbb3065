/**
 * Refusals against the Go adapter's golden file: test/golden/refusals.json is rendered by
 * adapters/nethttp's own Refusal.Write, and every case must come out of src/refusal.ts with
 * the same status, the same headers and the same body, byte for byte.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  denied,
  refusalBody,
  refusalHeaders,
  refusalResponse,
  unauthenticated,
  unavailable,
  unmappable,
  type Refusal,
} from "../src/refusal.js";
import type { Decision } from "../src/types.js";
import { packageRoot } from "./harness.js";

type GoldenCase =
  | { kind: "noToken" }
  | { kind: "notKavachToken" }
  | { kind: "accessTokenRejected"; detail: string }
  | { kind: "decision"; decision: Decision }
  | { kind: "unreachable" }
  | { kind: "unmappable"; detail: string };

interface Golden {
  name: string;
  case: GoldenCase;
  status: number;
  headers: Record<string, string>;
  body: string;
}

const goldens = JSON.parse(readFileSync(join(packageRoot, "test", "golden", "refusals.json"), "utf8")) as Golden[];

function refusalOf(c: GoldenCase): Refusal {
  switch (c.kind) {
    case "noToken":
      return unauthenticated("", "a bearer token is required");
    case "notKavachToken":
      return unauthenticated("TOKEN_INVALID", "the token is not a Kavach agent token");
    case "accessTokenRejected":
      return unauthenticated("TOKEN_INVALID", c.detail);
    case "decision":
      return denied(c.decision);
    case "unreachable":
      return unavailable();
    case "unmappable":
      return unmappable(c.detail);
  }
}

test("the golden file covers every kind of refusal", () => {
  const kinds = new Set(goldens.map((g) => g.case.kind));
  for (const k of ["noToken", "notKavachToken", "accessTokenRejected", "decision", "unreachable", "unmappable"]) {
    assert.ok(kinds.has(k as GoldenCase["kind"]), `no ${k} case`);
  }
});

for (const g of goldens) {
  test(`golden refusal: ${g.name}`, async () => {
    const r = refusalOf(g.case);
    assert.equal(r.status, g.status);
    assert.deepEqual(refusalHeaders(r), g.headers);
    assert.equal(refusalBody(r), g.body);
    const res = refusalResponse(r);
    assert.equal(res.status, g.status);
    assert.equal(await res.text(), g.body);
    for (const [k, v] of Object.entries(g.headers)) assert.equal(res.headers.get(k), v, k);
  });
}
