/**
 * src/generated/openapi.ts is docs/openapi.yaml's: `npm run check:generated` passes on the
 * committed pair and fails, naming the file and the fix, when either side changes alone.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import type { AuthorizeAgentRequest, Schemas } from "../src/types.js";
import { packageRoot, repoRoot } from "./harness.js";

const run = promisify(execFile);
const script = join(packageRoot, "scripts", "check-generated.mjs");
const spec = join(repoRoot, "docs", "openapi.yaml");
const generated = join(packageRoot, "src", "generated", "openapi.ts");
const dir = mkdtempSync(join(tmpdir(), "kavach-js-generated-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** check runs the check on a pair of files and answers its exit code and output. */
async function check(specFile: string, generatedFile: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, [script, specFile, generatedFile], { cwd: packageRoot });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

test("check:generated passes on the committed file", async () => {
  const r = await check(spec, generated);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /up to date/);
});

test("check:generated fails on an edited generated file, naming it and npm run generate", async () => {
  const edited = join(dir, "openapi.ts");
  writeFileSync(edited, readFileSync(generated, "utf8").replace("allowed: boolean;", "allowed: boolean | string;"));
  const r = await check(spec, edited);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /openapi\.ts is out of date/);
  assert.match(r.out, /npm run generate/);
});

test("check:generated fails when the specification changes and the file does not", async () => {
  const changed = join(dir, "openapi.yaml");
  writeFileSync(changed, readFileSync(spec, "utf8").replace("bundleLoaded: {type: boolean", "bundleLoaded: {type: string"));
  const r = await check(changed, generated);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /npm run generate/);
});

test("free-form objects hold anything, and the agent is named by id or by token", () => {
  // These lines compile only if `arguments` is Record<string, unknown>, not Record<string, never>.
  const args: Schemas["AuditEvent"]["arguments"] = { branch: "main", n: 1 };
  const byId: AuthorizeAgentRequest = { agentId: "agt_1", action: "get", resource: "r", arguments: { x: [1] } };
  const byToken: AuthorizeAgentRequest = { token: "kv_1", action: "get", resource: "r" };
  // @ts-expect-error neither agentId nor token
  const neither: AuthorizeAgentRequest = { action: "get", resource: "r" };
  assert.ok(args && byId && byToken && neither);
  assert.match(readFileSync(generated, "utf8"), /^\/\*\*\n \* Generated from docs\/openapi\.yaml by `npm run generate`/);
});
