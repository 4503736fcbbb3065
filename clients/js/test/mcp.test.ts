/**
 * @kavach/sdk/mcp end to end: a real `kavach serve` with its OAuth server and the headless dev
 * login, MCP servers built on the TypeScript SDK and guarded by this package on loopback, and
 * the SDK's own client running the OAuth flow (discovery from the 401, dynamic registration,
 * authorization code with PKCE) before listing and calling tools.
 */
import assert from "node:assert/strict";
import { createServer, type Server as HTTPServer } from "node:http";
import { after, before, test } from "node:test";
import { serve } from "@hono/node-server";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import express from "express";
import { z } from "zod";
import { callerOf, kavachMcp, type DeniedData, type KavachMcp } from "../src/mcp.js";
import { createAgent, freePort, startKavach, type Kavach } from "./harness.js";
import { connectWithOAuth, HeadlessProvider, tokenClaims } from "./mcp-fixtures/oauth.js";

/** What a tool handler saw: its arguments, and everything it could learn about the caller. */
interface Seen {
  tool: string;
  args: unknown;
  authInfo: unknown;
  headers: Record<string, unknown>;
  caller: ReturnType<typeof callerOf>;
}

const seen: Seen[] = [];

/** buildServer is the MCP server under test: three tools that record what reached them. */
function buildServer(): McpServer {
  const s = new McpServer({ name: "github", version: "1.0.0" });
  const tool = (name: string, description: string, shape: z.ZodRawShape) =>
    s.registerTool(name, { description, inputSchema: shape }, async (args, extra) => {
      seen.push({
        tool: name,
        args,
        authInfo: extra.authInfo,
        headers: { ...(extra.requestInfo?.headers ?? {}) },
        caller: callerOf(extra.authInfo),
      });
      return { content: [{ type: "text", text: `${name} ran with ${JSON.stringify(args)}` }] };
    });
  tool("list_repos", "Lists an organization's repositories", { org: z.string() });
  tool("delete_repo", "Deletes a repository", { repo: z.string() });
  tool("merge_pr", "Merges a pull request", { repo: z.string(), pr: z.number() });
  return s;
}

let k: Kavach;
let appKey: string;
const servers: { close(): unknown }[] = [];
let github: { url: string; guard: KavachMcp };
let other: { url: string };
let viaExpress: { url: string };

function listen(s: HTTPServer, port: number): Promise<void> {
  return new Promise((res) => s.listen(port, "127.0.0.1", () => res()));
}

before(async () => {
  const [githubPort, otherPort, expressPort] = [await freePort(), await freePort(), await freePort()];
  github = { url: `http://127.0.0.1:${githubPort}/mcp`, guard: undefined as unknown as KavachMcp };
  other = { url: `http://127.0.0.1:${otherPort}/mcp` };
  viaExpress = { url: `http://127.0.0.1:${expressPort}/mcp` };
  k = await startKavach({
    issuerPath: "/oauth",
    devLogin: true,
    oauthResources: { github: github.url, other: other.url },
  });
  appKey = await k.apiKey("app");
  const kavach = { url: k.url, apiKey: appKey };

  // node:http, the all-in-one handler, event-stream answers.
  github.guard = kavachMcp({ resource: github.url, server: "github", issuer: k.issuer, kavach });
  const h = createServer((req, res) => void github.guard.handler(buildServer)(req, res));
  await listen(h, githubPort);
  servers.push(h);

  // The Web form on @hono/node-server, JSON answers.
  const web = kavachMcp({ resource: other.url, server: "other", issuer: k.issuer, kavach, jsonResponse: true });
  const handle = web.fetch(buildServer);
  servers.push(
    serve({
      fetch: (req: Request, env: { incoming: { socket: { remoteAddress?: string } } }) =>
        handle(req, { remoteAddress: env.incoming.socket.remoteAddress }),
      port: otherPort,
      hostname: "127.0.0.1",
    }),
  );

  // Express with its own JSON parser, the middleware and protect(); agent tokens accepted.
  const guard = kavachMcp({
    resource: viaExpress.url,
    server: "github",
    issuer: k.issuer,
    kavach,
    agentTokens: true,
    trustedProxies: ["127.0.0.1"],
  });
  const app = express();
  app.use(express.json());
  app.use(guard.metadataMiddleware());
  app.post("/mcp", guard.middleware(), async (req, res) => {
    const server = guard.protect(buildServer());
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => void server.close());
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  const e = createServer(app);
  await listen(e, expressPort);
  servers.push(e);
});

after(async () => {
  for (const s of servers) s.close();
  await k?.close();
});

async function denial(
  c: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<{ err: McpError; data: DeniedData }> {
  const before = seen.length;
  const err = await c.callTool({ name, arguments: args }).then(
    (r) => assert.fail(`${name} was not refused: ${JSON.stringify(r)}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof McpError, String(err));
  assert.equal(err.code, -31403, err.message);
  assert.equal(seen.length, before, `${name} reached its handler`);
  return { err, data: err.data as DeniedData };
}

const toolNames = async (c: Client) => (await c.listTools()).tools.map((t) => t.name).sort();

test("without a token: 401 pointing at the protected resource metadata, which is served with CORS", async () => {
  const r = await fetch(github.url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
  assert.equal(r.status, 401);
  const meta = `http://127.0.0.1:${new URL(github.url).port}/.well-known/oauth-protected-resource/mcp`;
  assert.equal(r.headers.get("www-authenticate"), `Bearer resource_metadata="${meta}", scope="mcp"`);
  assert.equal(await r.text(), '{"error_description":"a bearer token is required"}\n');

  const want =
    `{"resource":"${github.url}","authorization_servers":["${k.issuer}"],` +
    `"scopes_supported":["mcp"],"bearer_methods_supported":["header"]}`;
  for (const u of [meta, new URL("/.well-known/oauth-protected-resource", github.url).href]) {
    const m = await fetch(u);
    assert.equal(m.status, 200, u);
    assert.equal(m.headers.get("access-control-allow-origin"), "*");
    assert.equal(m.headers.get("content-type"), "application/json");
    assert.equal(await m.text(), want);
  }
  const pre = await fetch(meta, { method: "OPTIONS" });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-methods"), "GET");
});

let sdk: Client;
let provider: HeadlessProvider;
let agentId: string;

test("the SDK's OAuth client discovers, registers, authorizes with PKCE, and lists every tool consented", async () => {
  provider = new HeadlessProvider("http://127.0.0.1:33419/callback", "sdk client");
  sdk = await connectWithOAuth(github.url, provider);
  assert.ok(provider.registered, "the client registered dynamically");
  const claims = tokenClaims(provider);
  assert.deepEqual(claims.aud, [github.url]);
  assert.equal(claims.scope, "mcp");
  agentId = String(claims.agent_id);
  assert.match(agentId, /^agt_/);
  assert.deepEqual(await toolNames(sdk), ["delete_repo", "list_repos", "merge_pr"]);
});

test("narrowed agent: tools/list hides what it cannot call, tool calls are decided with their arguments", async () => {
  assert.ok(sdk, "the OAuth test ran first");
  await k.api("PATCH", `/v1/agents/${agentId}`, {
    permissions: [
      { resource: "mcp:github:list_repos", actions: ["call"], constraints: { argumentPatterns: { org: "acme" } } },
      { resource: "mcp:github:merge_pr", actions: ["call"], constraints: { approval: { required: true } } },
    ],
  });
  // delete_repo has no grant: hidden. merge_pr needs an approval: still listed.
  assert.deepEqual(await toolNames(sdk), ["list_repos", "merge_pr"]);

  seen.length = 0;
  const ok = await sdk.callTool({ name: "list_repos", arguments: { org: "acme" } });
  assert.deepEqual(ok.content, [{ type: "text", text: 'list_repos ran with {"org":"acme"}' }]);
  assert.equal(seen.length, 1);

  const gone = await denial(sdk, "delete_repo", { repo: "acme/site" });
  assert.equal(gone.data.code, "NO_PERMISSION");
  assert.match(gone.data.auditId ?? "", /.+/);
  assert.match(gone.err.message, /Kavach denied calling delete_repo: NO_PERMISSION/);

  const gated = await denial(sdk, "merge_pr", { repo: "acme/site", pr: 7 });
  assert.equal(gated.data.code, "APPROVAL_REQUIRED");
  assert.match(gated.data.approvalId ?? "", /.+/);

  const args = await denial(sdk, "list_repos", { org: "evil" });
  assert.equal(args.data.code, "ARGUMENT_NOT_ALLOWED");

  // Listing is dry runs: the one approval request is the refused call's.
  const approvals = await k.api<{ approvals: { id: string }[] }>("GET", `/v1/approvals?agentId=${agentId}`);
  assert.deepEqual(
    approvals.approvals.map((a) => a.id),
    [gated.data.approvalId],
  );
});

test("the tool handler never sees the token: AuthInfo.token is empty, no Authorization header", async () => {
  seen.length = 0;
  await sdk.callTool({ name: "list_repos", arguments: { org: "acme" } });
  const s = seen[0];
  const token = String((await provider.tokens())?.access_token);
  assert.ok(token.length > 20);
  assert.ok(!JSON.stringify({ ...s, caller: s.caller }).includes(token), "the token reached the handler");
  const info = s.authInfo as Record<string, unknown>;
  assert.equal(info.token, "");
  assert.equal(info.clientId, provider.clientId);
  assert.deepEqual(info.scopes, ["mcp"]);
  assert.deepEqual((info.extra as Record<string, unknown>).agentId, agentId);
  assert.equal(s.headers.authorization, undefined);
  assert.ok(s.headers["mcp-protocol-version"], "the other headers are there");
  assert.equal(s.caller?.agentId, agentId);
  assert.equal(s.caller?.subject, "dev-user");
  assert.equal(s.caller?.ip, "127.0.0.1");
});

/** post sends one JSON-RPC body to an MCP endpoint as a client would, with a bearer token. */
function post(url: string, token: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "Mcp-Protocol-Version": "2025-06-18",
    },
    body: JSON.stringify(body),
  });
}

/** messages reads the JSON-RPC messages of an answer, JSON or event stream. */
async function messages(r: Response): Promise<Record<string, unknown>[]> {
  const text = await r.text();
  if (r.headers.get("content-type")?.startsWith("text/event-stream")) {
    return text
      .split("\n")
      .filter((l) => l.startsWith("data:"))
      .map((l) => JSON.parse(l.slice(5)) as Record<string, unknown>);
  }
  const v = JSON.parse(text) as Record<string, unknown> | Record<string, unknown>[];
  return Array.isArray(v) ? v : [v];
}

test("a refusal is written as Go's mcpauth writes it: HTTP 200, JSON-RPC error -31403, the decision", async () => {
  const token = String((await provider.tokens())?.access_token);
  const r = await post(github.url, token, {
    jsonrpc: "2.0",
    id: 5,
    method: "tools/call",
    params: { name: "delete_repo", arguments: { repo: "x" } },
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/json");
  assert.equal(r.headers.get("cache-control"), "no-store");
  const text = await r.text();
  assert.ok(text.endsWith("}\n"), "one JSON document and a newline, as Go's encoder writes");
  const v = JSON.parse(text) as { error: { message: string; data: DeniedData } };
  assert.deepEqual(Object.keys(v), ["jsonrpc", "id", "error"]);
  assert.deepEqual(Object.keys(v.error), ["code", "message", "data"]);
  assert.deepEqual(Object.keys(v.error.data), ["code", "reason", "auditId"]);
  assert.equal(v.error.message, `Kavach denied calling delete_repo: NO_PERMISSION (${v.error.data.reason})`);
});

test("a batch with a refused call is refused whole", async () => {
  const token = String((await provider.tokens())?.access_token);
  seen.length = 0;
  const r = await fetch(github.url, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
    },
    body: JSON.stringify([
      { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "list_repos", arguments: { org: "acme" } } },
      { jsonrpc: "2.0", id: "two", method: "tools/call", params: { name: "delete_repo", arguments: { repo: "x" } } },
    ]),
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/json");
  const out = (await r.json()) as { id: unknown; error: { code: number; data?: DeniedData } }[];
  assert.deepEqual(
    out.map((m) => [m.id, m.error.code, m.error.data?.code]),
    [
      [1, -32603, undefined],
      ["two", -31403, "NO_PERMISSION"],
    ],
  );
  assert.equal(seen.length, 0);
});

test("another resource's token is 401 invalid_token; two short of three scopes is one 403 insufficient_scope naming both", async () => {
  const p = new HeadlessProvider("http://127.0.0.1:33420/callback", "sdk client for other");
  const c = await connectWithOAuth(other.url, p);
  // The other server answers JSON, through the Web form; its agent is narrowed too.
  await k.api("PATCH", `/v1/agents/${String(tokenClaims(p).agent_id)}`, {
    permissions: [{ resource: "mcp:other:list_repos", actions: ["call"] }],
  });
  assert.deepEqual(await toolNames(c), ["list_repos"]);
  const denied = await denial(c, "merge_pr", { repo: "a", pr: 1 });
  assert.equal(denied.data.code, "NO_PERMISSION");
  await c.close();

  // tools/list is narrowed whichever way the transport frames its answer.
  const otherToken = String((await p.tokens())?.access_token);
  const githubToken = String((await provider.tokens())?.access_token);
  for (const [url, token, framing, want] of [
    [github.url, githubToken, "text/event-stream", ["list_repos", "merge_pr"]],
    [other.url, otherToken, "application/json", ["list_repos"]],
  ] as const) {
    const res = await post(url, token, { jsonrpc: "2.0", id: 3, method: "tools/list" });
    assert.equal(res.headers.get("content-type"), framing);
    const [m] = await messages(res);
    assert.deepEqual(
      (m.result as { tools: { name: string }[] }).tools.map((t) => t.name).sort(),
      want,
      framing,
    );
  }

  const r = await fetch(github.url, {
    method: "POST",
    headers: { Authorization: `Bearer ${otherToken}`, "Content-Type": "application/json" },
    body: "{}",
  });
  assert.equal(r.status, 401);
  assert.match(
    r.headers.get("www-authenticate") ?? "",
    /error="invalid_token", error_description="the token was issued for another resource"$/,
  );

  const stricter = kavachMcp({
    resource: github.url,
    server: "github",
    issuer: k.issuer,
    kavach: { url: k.url, apiKey: appKey },
    scopes: ["mcp", "repos", "admin"],
  });
  const token = String((await provider.tokens())?.access_token);
  const f = await stricter.fetch(buildServer)(
    new Request(github.url, { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: "{}" }),
  );
  assert.equal(f.status, 403);
  assert.match(
    f.headers.get("www-authenticate") ?? "",
    new RegExp(
      '^Bearer resource_metadata="[^"]+", scope="mcp repos admin", ' +
        'error="insufficient_scope", error_description="the token lacks scopes repos, admin"$',
    ),
  );
});

test("Express middleware: agent tokens, checked by Kavach, with the same filter and refusals", async () => {
  const a = await createAgent(k, [{ resource: "mcp:github:list_repos", actions: ["call"] }], "alice", "express agent");
  const c = new Client({ name: "agent", version: "1" });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(viaExpress.url), {
      requestInit: { headers: { Authorization: `Bearer ${a.token}` } },
    }),
  );
  assert.deepEqual(await toolNames(c), ["list_repos"]);
  seen.length = 0;
  await c.callTool({ name: "list_repos", arguments: { org: "acme" } });
  assert.equal(seen[0].caller?.agentId, a.id);
  assert.equal(seen[0].headers.authorization, undefined);
  assert.equal((await denial(c, "delete_repo", { repo: "x" })).data.code, "NO_PERMISSION");
  await c.close();

  const bad = await fetch(viaExpress.url, {
    method: "POST",
    headers: { Authorization: "Bearer kv_not_a_token", "Content-Type": "application/json" },
    body: "{}",
  });
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get("www-authenticate") ?? "", /error="invalid_token"/);

  // Behind a trusted proxy, X-Forwarded-For is the client Kavach's IP allowlist sees.
  const b = await createAgent(
    k,
    [{ resource: "mcp:github:list_repos", actions: ["call"], constraints: { ipAllowlist: ["203.0.113.7"] } }],
    "alice",
    "office agent",
  );
  const proxied = new Client({ name: "agent", version: "1" });
  await proxied.connect(
    new StreamableHTTPClientTransport(new URL(viaExpress.url), {
      requestInit: { headers: { Authorization: `Bearer ${b.token}`, "X-Forwarded-For": "203.0.113.7" } },
    }),
  );
  assert.deepEqual(await toolNames(proxied), ["list_repos"]);
  seen.length = 0;
  await proxied.callTool({ name: "list_repos", arguments: { org: "acme" } });
  assert.equal(seen[0].caller?.ip, "203.0.113.7");
  await proxied.close();
  const direct = await post(viaExpress.url, b.token, {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "list_repos", arguments: { org: "acme" } },
  });
  const [refused] = await messages(direct);
  assert.equal((refused.error as { data: DeniedData }).data.code, "IP_NOT_ALLOWED");

  const meta = await fetch(new URL("/.well-known/oauth-protected-resource/mcp", viaExpress.url));
  assert.equal(((await meta.json()) as { resource: string }).resource, viaExpress.url);
});

test("a protected server reached around the guard refuses tools/call and tools/list", async () => {
  seen.length = 0;
  for (const [method, params] of [
    ["tools/call", { name: "list_repos", arguments: { org: "acme" } }],
    ["tools/list", {}],
  ] as const) {
    const server = github.guard.protect(buildServer());
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    await server.connect(transport);
    const res = await transport.handleRequest(
      new Request(github.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 9, method, params }),
      }),
    );
    const body = (await res.json()) as { error?: { code: number; message: string } };
    assert.equal(body.error?.code, -32603, method);
    assert.match(body.error?.message ?? "", /did not come through the Kavach guard/);
    await server.close();
  }
  assert.equal(seen.length, 0);
});

test("Kavach unreachable: tool calls are refused with ENGINE_ERROR and tools/list hides every tool", async () => {
  const failures: string[] = [];
  const down = kavachMcp({
    resource: github.url,
    server: "github",
    issuer: k.issuer,
    kavach: { url: `http://127.0.0.1:${await freePort()}`, apiKey: appKey },
    jsonResponse: true,
    onError: (m) => failures.push(m),
  });
  const handle = down.fetch(buildServer);
  const token = String((await provider.tokens())?.access_token);
  const ask = (body: unknown) =>
    handle(
      new Request(github.url, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${token}`,
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
        },
        body: JSON.stringify(body),
      }),
    );
  seen.length = 0;
  const params = { name: "list_repos", arguments: { org: "acme" } };
  const [call] = await messages(await ask({ jsonrpc: "2.0", id: 1, method: "tools/call", params }));
  const e = call.error as { code: number; message: string; data: DeniedData };
  assert.equal(e.code, -31403);
  assert.equal(e.message, "Kavach could not authorize calling list_repos");
  assert.deepEqual(e.data, { code: "ENGINE_ERROR", reason: "the authorization service failed" });
  assert.equal(seen.length, 0);
  const [list] = await messages(await ask({ jsonrpc: "2.0", id: 2, method: "tools/list" }));
  assert.deepEqual((list.result as { tools: unknown[] }).tools, []);
  assert.equal(failures.length, 4, failures.join("\n"));
});
