/**
 * The examples in examples/js run as their READMEs say (`node server.js` with KAVACH_URL and
 * KAVACH_API_KEY) against a real `kavach serve`, and are called once allowed and once refused.
 * Each example's server.js is copied into this package's build directory, where its imports
 * resolve as they would after `npm install`: @kavach/sdk to this package (by its own name,
 * through package.json's exports) and the frameworks to its node_modules.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { createAgent, freePort, packageRoot, repoRoot, startKavach, type Kavach } from "./harness.js";
import { connectWithOAuth, HeadlessProvider } from "./mcp-fixtures/oauth.js";

const examples = join(repoRoot, "examples", "js");
let runDir: string;
let k: Kavach;
let appKey: string;
let mcpURL: string;
const running: ChildProcess[] = [];

before(async () => {
  mkdirSync(join(packageRoot, "dist"), { recursive: true });
  runDir = mkdtempSync(join(packageRoot, "dist", "examples-"));
  mcpURL = `http://127.0.0.1:${await freePort()}/mcp`;
  k = await startKavach({ issuerPath: "/oauth", devLogin: true, oauthResources: { github: mcpURL } });
  appKey = await k.apiKey("app");
});

after(async () => {
  for (const p of running) p.kill();
  await k?.close();
  rmSync(runDir, { recursive: true, force: true });
});

/** run starts an example's server.js and waits for its first line on stdout. */
async function run(name: string, env: Record<string, string>): Promise<string> {
  const dir = join(runDir, name);
  mkdirSync(dir);
  copyFileSync(join(examples, name, "server.js"), join(dir, "server.js"));
  const pkg = JSON.parse(readFileSync(join(examples, name, "package.json"), "utf8")) as {
    scripts: { start: string };
    dependencies: Record<string, string>;
  };
  assert.equal(pkg.scripts.start, "node server.js");
  assert.equal(pkg.dependencies["@kavach/sdk"], "file:../../../clients/js");
  const p = spawn(process.execPath, ["server.js"], {
    cwd: dir,
    env: { ...process.env, KAVACH_URL: k.url, KAVACH_API_KEY: appKey, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(p);
  let stderr = "";
  p.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve, reject) => {
    p.stdout?.once("data", (b: Buffer) => resolve(b.toString()));
    p.once("exit", (code) => reject(new Error(`${name} exited (${code}): ${stderr}`)));
    setTimeout(() => reject(new Error(`${name} did not start: ${stderr}`)), 30_000).unref();
  });
}

test("examples/js/express-app: an agent reads a repo, and is refused a merge", async () => {
  const port = await freePort();
  assert.match(await run("express-app", { PORT: String(port) }), /listening on/);
  const a = await createAgent(k, [{ resource: "http:repos:*", actions: ["get"] }]);
  const base = `http://127.0.0.1:${port}`;
  const auth = { Authorization: `Bearer ${a.token}` };

  const ok = await fetch(`${base}/repos/42`, { headers: auth });
  assert.equal(ok.status, 200);
  const body = (await ok.json()) as { repo: string; allowedBy: string; auditId: string };
  assert.equal(body.repo, "42");
  assert.match(body.allowedBy, /^perm_/);

  const no = await fetch(`${base}/repos/42/merge`, { method: "POST", headers: auth });
  assert.equal(no.status, 403);
  assert.equal(no.headers.get("content-type"), "application/problem+json");
  assert.equal(((await no.json()) as { reason: string }).reason, "NO_PERMISSION");
});

test("examples/js/mcp-server: OAuth and agent-token clients, a tool allowed, a tool refused", async () => {
  assert.match(await run("mcp-server", { MCP_URL: mcpURL }), /MCP server: /);

  // An MCP client with nothing but the server's URL: the OAuth flow, then every tool consented.
  const viaOAuth = await connectWithOAuth(mcpURL, new HeadlessProvider("http://127.0.0.1:33421/callback", "example"));
  const all = (await viaOAuth.listTools()).tools.map((t) => t.name).sort();
  assert.deepEqual(all, ["delete_repo", "list_repos", "merge_pr"]);
  await viaOAuth.close();

  // An agent token allowed one tool.
  const a = await createAgent(k, [{ resource: "mcp:github:list_repos", actions: ["call"] }]);
  const c = new Client({ name: "example-test", version: "1.0.0" });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(mcpURL), {
      requestInit: { headers: { Authorization: `Bearer ${a.token}` } },
    }),
  );
  assert.deepEqual(
    (await c.listTools()).tools.map((t) => t.name),
    ["list_repos"],
  );
  const r = await c.callTool({ name: "list_repos", arguments: { org: "acme" } });
  assert.deepEqual(r.content, [{ type: "text", text: `acme/site, acme/api (asked by ${a.id})` }]);
  const err = await c.callTool({ name: "delete_repo", arguments: { repo: "acme/site" } }).then(
    () => assert.fail("delete_repo was not refused"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof McpError);
  assert.equal(err.code, -31403);
  assert.equal((err.data as { code: string }).code, "NO_PERMISSION");
  await c.close();
});
