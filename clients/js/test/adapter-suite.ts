/**
 * The conformance suite every framework adapter runs: one real `kavach serve` (OAuth issuer
 * at /oauth, headless dev login, an OAuth resource for the app), the app under test, and the
 * Go net/http adapter (adapters/nethttp/internal/refguard) against the same Kavach, whose
 * refusals the adapter's must equal byte for byte.
 *
 * The app's contract. start(env) boots the framework's real server on loopback and resolves
 * with its base URL. The app serves
 *
 *   GET  /repos/:id          (in the framework's own route syntax)
 *   POST /repos/:id/merge
 *
 * each protected by the adapter configured with
 *
 *   { kavach: { url: env.kavachUrl, apiKey: env.appKey }, trustedProxies: env.trustedProxies,
 *     accessTokens: { issuer: env.issuer, resource: env.resource } }
 *
 * and the DEFAULT mapping (GET /repos/42 is `get` on `http:repos:{id}` with argument id=42).
 * An allowed request is answered 200 with the JSON
 *
 *   { "code": decision.code, "grant": decision.grant, "auditId": decision.auditId,
 *     "sawAuthorization": <whether the handler could see an Authorization header>,
 *     "ip": <the client address the adapter resolved; optional> }
 *
 * where the decision is read through the framework's own idiom (Hono c.get, Express
 * res.locals, Fastify's request decorator, …). Refusals are the adapter's own answers.
 * start is called twice: once with no trusted proxy and once trusting 127.0.0.1.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Authorizer } from "../src/client.js";
import { parseDuration } from "../src/refusal.js";
import type { AuthorizeCall, CallContext, Decision } from "../src/types.js";
import { createAgent, goBuild, repoRoot, startKavach, type Kavach } from "./harness.js";

/** What an app under test is configured with. */
export interface SuiteEnv {
  kavachUrl: string;
  /** An app API key. */
  appKey: string;
  /** The OAuth issuer whose access tokens the app accepts. */
  issuer: string;
  /** The app's resource URI: the audience its access tokens name. */
  resource: string;
  /** Proxies whose X-Forwarded-For the app believes. */
  trustedProxies: string[];
}

/** A running app. */
export interface TestApp {
  url: string;
  close(): Promise<void>;
}

export interface SuiteOptions {
  /**
   * The framework does not tell the adapter the connection's peer (Next.js): with no trusted
   * proxy the client's address is unknown, so an IP allowlist refuses with that reason.
   */
  peerHidden?: boolean;
  /** Registers tests of the framework's own (proxy.ts, …) inside the suite, before the outage case. */
  more?: (s: SuiteContext) => void;
}

/** What tests registered by SuiteOptions.more can use, once the suite's before hook has run. */
export interface SuiteContext {
  kavach(): Kavach;
  env(): SuiteEnv;
  app(): TestApp;
  /** Makes an agent with these permissions; perms are their ids, in order. */
  agent(permissions: Permission[]): Promise<{ id: string; token: string; perms: string[] }>;
}

/** The resource URI the app's access tokens name, and another server's. */
export const appResource = "https://repos.example.com/api";
export const otherResource = "https://other.example.com/api";

/** The headers an adapter's refusal is made of; others (Date, Content-Length, …) are the framework's. */
export const refusalHeaderNames = ["content-type", "cache-control", "www-authenticate", "retry-after"] as const;

/** An answer as the client saw it. */
export interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
}

/** A request, replayable against another server. */
export interface Probe {
  method: "GET" | "POST";
  path: string;
  token?: string;
  headers?: Record<string, string>;
}

/** send makes one request and reads the whole answer. */
export async function send(base: string, p: Probe): Promise<Answer> {
  const headers: Record<string, string> = { ...(p.headers ?? {}) };
  if (p.token !== undefined) headers.Authorization = `Bearer ${p.token}`;
  const res = await fetch(base + p.path, { method: p.method, headers, redirect: "manual" });
  const out: Answer = { status: res.status, headers: {}, body: await res.text() };
  for (const h of refusalHeaderNames) out.headers[h] = res.headers.get(h) ?? undefined;
  return out;
}

/** normalized replaces what differs from one decision to the next: audit and approval ids, the exact wait. */
export function normalized(body: string): string {
  return body
    .replace(/"auditId":"[^"]*"/g, '"auditId":"<audit>"')
    .replace(/"approvalId":"[^"]*"/g, '"approvalId":"<approval>"')
    .replace(/"retryAfter":"[^"]*"/g, '"retryAfter":"<wait>"');
}

/** The problem document's fields, in the Go adapter's order. */
interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  reason?: string;
  auditId?: string;
  approvalId?: string;
  retryAfter?: string;
}

/** assertRefusal checks a refusal's status, headers and problem document. */
function assertRefusal(a: Answer, want: { status: number; reason: string; detail?: string | RegExp; challenge?: string }): Problem {
  assert.equal(a.status, want.status, `status: ${a.body}`);
  assert.equal(a.headers["content-type"], "application/problem+json");
  assert.equal(a.headers["cache-control"], "no-store");
  assert.equal(a.headers["www-authenticate"], want.challenge);
  const p = JSON.parse(a.body) as Problem;
  const kinds: Record<number, [string, string]> = {
    400: ["invalid_input", "Bad Request"],
    401: ["unauthenticated", "Unauthorized"],
    403: ["forbidden", "Forbidden"],
    503: ["internal", "Service Unavailable"],
  };
  const [code, title] = kinds[want.status];
  assert.equal(p.type, "urn:kavach:problem:" + code);
  assert.equal(p.title, title);
  assert.equal(p.status, want.status);
  assert.equal(p.code, code);
  assert.equal(p.reason, want.reason || undefined);
  if (typeof want.detail === "string") assert.equal(p.detail, want.detail);
  else if (want.detail) assert.match(p.detail ?? "", want.detail);
  assert.ok(a.body.endsWith("}\n"), "the body ends with one newline, as Go's encoder writes it");
  return p;
}

interface Allowed {
  code: string;
  grant?: string;
  auditId: string;
  sawAuthorization: boolean;
  ip?: string;
}

function assertAllowed(a: Answer, grant: string, ip?: string): Allowed {
  assert.equal(a.status, 200, a.body);
  const d = JSON.parse(a.body) as Allowed;
  assert.equal(d.code, "ALLOWED");
  assert.equal(d.grant, grant);
  assert.match(d.auditId, /.+/);
  assert.equal(d.sawAuthorization, false, "the handler must not see the Authorization header");
  if (d.ip !== undefined && ip !== undefined) assert.equal(d.ip, ip);
  return d;
}

/** A running Go reference adapter (adapters/nethttp/internal/refguard). */
interface GoGuard {
  url: string;
  close(): Promise<void>;
}

const refguardPackage = "./adapters/nethttp/internal/refguard";

/** startRefguard builds and runs the Go net/http adapter's reference server against env's Kavach. */
export async function startRefguard(env: SuiteEnv): Promise<GoGuard> {
  if (!existsSync(join(repoRoot, refguardPackage))) {
    throw new Error(`the Go reference adapter ${refguardPackage} is not in this tree yet: refusals cannot be compared`);
  }
  const bin = await goBuild(refguardPackage, "refguard");
  const args = ["--kavach", env.kavachUrl, "--api-key", env.appKey, "--listen", "127.0.0.1:0"];
  for (const p of env.trustedProxies) args.push("--trusted-proxy", p);
  args.push("--issuer", env.issuer, "--resource", env.resource);
  const proc: ChildProcess = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`refguard did not start:\n${out}`)), 30_000);
    const read = (b: Buffer) => {
      out += b.toString();
      const m = /listening (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    };
    proc.stdout?.on("data", read);
    proc.stderr?.on("data", read);
    proc.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`refguard exited (${code}):\n${out}`));
    });
  });
  return {
    url,
    close: async () => {
      if (proc.exitCode !== null) return;
      const gone = new Promise<void>((r) => proc.once("exit", () => r()));
      proc.kill("SIGTERM");
      await gone;
    },
  };
}

/** An Authorizer that allows everything and remembers what it was asked: for mapping tests without Kavach. */
export function recordingAuthorizer(): Authorizer & { calls: { token: string; call: AuthorizeCall; context?: CallContext }[] } {
  const calls: { token: string; call: AuthorizeCall; context?: CallContext }[] = [];
  const allow = (): Decision => ({ allowed: true, code: "ALLOWED", reason: "allowed", auditId: "aud_test", grant: "perm_test" });
  return {
    calls,
    authorize: async (agentId, call, context) => {
      calls.push({ token: agentId, call, context });
      return allow();
    },
    authorizeToken: async (token, call, context) => {
      calls.push({ token, call, context });
      return allow();
    },
  };
}

/** oauthAccessToken runs the authorization code flow with PKCE against Kavach's dev login and returns the access token. */
export async function oauthAccessToken(k: Kavach, resource: string): Promise<string> {
  const issuer = k.issuer;
  if (!issuer) throw new Error("kavach runs without an issuer");
  const base = new URL(issuer);
  const meta = (await (await fetch(`${base.origin}/.well-known/oauth-authorization-server${base.pathname}`)).json()) as Record<string, string>;
  const redirectUri = "http://127.0.0.1:9/callback";
  const reg = await fetch(meta.registration_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      client_name: "adapter suite",
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "none",
    }),
  });
  const client = (await reg.json()) as { client_id?: string };
  assert.equal(reg.status, 201, JSON.stringify(client));
  const clientId = client.client_id ?? "";
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  let target = new URL(meta.authorization_endpoint);
  target.search = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    state: "st-1",
    scope: "mcp",
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource,
  }).toString();
  let code = "";
  for (let i = 0; i < 5 && !code; i++) {
    const res = await fetch(target, { redirect: "manual" });
    await res.arrayBuffer();
    const loc = res.headers.get("location");
    if (!loc) throw new Error(`authorize answered ${res.status} without a redirect`);
    const next = new URL(loc, target);
    if (next.href.startsWith(redirectUri)) {
      code = next.searchParams.get("code") ?? "";
      if (!code) throw new Error("no code in " + next.href);
    }
    target = next;
  }
  const tok = await fetch(meta.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      resource,
      client_id: clientId,
    }).toString(),
  });
  const t = (await tok.json()) as { access_token?: string };
  assert.equal(tok.status, 200, JSON.stringify(t));
  return t.access_token ?? "";
}

/** jwtClaims decodes a JWT's payload without checking it. */
function jwtClaims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;
}

export interface Permission {
  id?: string;
  resource: string;
  actions: string[];
  constraints?: Record<string, unknown>;
}

/** adapterSuite registers the conformance tests for one framework's adapter. */
export function adapterSuite(name: string, start: (env: SuiteEnv) => Promise<TestApp>, options: SuiteOptions = {}): void {
  describe(name, { concurrency: false }, () => {
    let k: Kavach;
    let env: SuiteEnv;
    let app: TestApp;
    let proxied: TestApp | undefined;
    let go: GoGuard | undefined;
    let goFailure: unknown;
    /** Refusals to replay against the Go adapter, with what this adapter answered. */
    const refusals: { label: string; probe: Probe; answer: Answer }[] = [];

    const agent = async (permissions: Permission[]) => {
      const a = await createAgent(k, permissions);
      const full = await k.api<{ permissions: Permission[] }>("GET", `/v1/agents/${a.id}`);
      return { ...a, perms: full.permissions.map((p) => p.id ?? "") };
    };
    const refused = async (label: string, probe: Probe): Promise<Answer> => {
      const answer = await send(app.url, probe);
      refusals.push({ label, probe, answer });
      return answer;
    };

    before(async () => {
      k = await startKavach({
        issuerPath: "/oauth",
        devLogin: true,
        oauthResources: { repos: appResource, other: otherResource },
      });
      env = {
        kavachUrl: k.url,
        appKey: await k.apiKey("app"),
        issuer: k.issuer ?? "",
        resource: appResource,
        trustedProxies: [],
      };
      app = await start(env);
      try {
        go = await startRefguard(env);
      } catch (err) {
        goFailure = err;
      }
    });
    after(async () => {
      await Promise.allSettled([app?.close(), proxied?.close(), go?.close()]);
      await k?.close();
    });

    test("an allowed request reaches its handler with the decision and without the Authorization header", async () => {
      const a = await agent([
        { resource: "http:repos:*", actions: ["get"] },
        { resource: "http:repos:*:merge", actions: ["post"] },
      ]);
      assertAllowed(await send(app.url, { method: "GET", path: "/repos/42", token: a.token }), a.perms[0], "127.0.0.1");
      assertAllowed(await send(app.url, { method: "POST", path: "/repos/42/merge", token: a.token }), a.perms[1], "127.0.0.1");
    });

    test("a denial is a 403 problem document whose reason is the decision code; the route names the resource", async () => {
      const a = await agent([{ resource: "http:repos:*", actions: ["get"] }]);
      const res = await refused("NO_PERMISSION", { method: "POST", path: "/repos/42/merge", token: a.token });
      const p = assertRefusal(res, { status: 403, reason: "NO_PERMISSION", detail: 'no permission grants "post" on "http:repos:{id}:merge"' });
      assert.match(p.auditId ?? "", /.+/);
      assert.equal(res.headers["retry-after"], undefined);
    });

    test("the route's parameters are the call's arguments: an argument pattern refuses /repos/abc", async () => {
      const a = await agent([{ resource: "http:repos:*", actions: ["get"], constraints: { argumentPatterns: { id: "[0-9]+" } } }]);
      assertAllowed(await send(app.url, { method: "GET", path: "/repos/42", token: a.token }), a.perms[0]);
      const res = await refused("ARGUMENT_NOT_ALLOWED", { method: "GET", path: "/repos/abc", token: a.token });
      const p = assertRefusal(res, { status: 403, reason: "ARGUMENT_NOT_ALLOWED", detail: "an argument does not match the permission's argument patterns" });
      assert.match(p.auditId ?? "", /.+/);
    });

    test("no bearer token is a 401 with a bare Bearer challenge", async () => {
      for (const headers of [undefined, { Authorization: "Basic dXNlcjpwYXNz" }, { Authorization: "Bearer " }]) {
        const res = await refused("no token " + JSON.stringify(headers ?? {}), { method: "GET", path: "/repos/1", headers });
        const p = assertRefusal(res, { status: 401, reason: "", detail: "a bearer token is required", challenge: 'Bearer realm="kavach"' });
        assert.equal(p.auditId, undefined);
      }
    });

    test("an invalid kv_ token is a 401 invalid_token, decided and audited by Kavach", async () => {
      const res = await refused("kv_ garbage", { method: "GET", path: "/repos/1", token: "kv_garbage" });
      const p = assertRefusal(res, { status: 401, reason: "TOKEN_INVALID", challenge: 'Bearer realm="kavach", error="invalid_token"' });
      assert.match(p.auditId ?? "", /.+/);
    });

    test("a token that is neither kv_ nor a JWT is a 401 invalid_token", async () => {
      const res = await refused("not a JWT", { method: "GET", path: "/repos/1", token: "not-a-jwt" });
      assertRefusal(res, {
        status: 401,
        reason: "TOKEN_INVALID",
        detail: "the token is not a JWT signed with an accepted algorithm",
        challenge: 'Bearer realm="kavach", error="invalid_token"',
      });
    });

    test("X-Forwarded-For is ignored from an untrusted peer and believed from a trusted proxy", async () => {
      const a = await agent([{ resource: "http:repos:*", actions: ["get"], constraints: { ipAllowlist: ["203.0.113.7"] } }]);
      const probe: Probe = { method: "GET", path: "/repos/1", token: a.token, headers: { "X-Forwarded-For": "203.0.113.7" } };
      const res = options.peerHidden ? await send(app.url, probe) : await refused("spoofed X-Forwarded-For", probe);
      assertRefusal(res, {
        status: 403,
        reason: "IP_NOT_ALLOWED",
        detail: options.peerHidden
          ? "the client address is unknown and the permission has an IP allowlist"
          : "client address 127.0.0.1 is not in the permission's IP allowlist",
      });
      proxied = await start({ ...env, trustedProxies: ["127.0.0.1"] });
      assertAllowed(await send(proxied.url, probe), a.perms[0], "203.0.113.7");
    });

    test("an approval gate is a 403 APPROVAL_REQUIRED naming the approval request Kavach opened", async () => {
      const a = await agent([{ resource: "http:repos:*", actions: ["get"], constraints: { approval: { required: true } } }]);
      const res = await refused("APPROVAL_REQUIRED", { method: "GET", path: "/repos/9", token: a.token });
      const p = assertRefusal(res, { status: 403, reason: "APPROVAL_REQUIRED", detail: "the call needs a human approval" });
      assert.match(p.approvalId ?? "", /.+/);
      const approval = await k.api<{ id: string; status: string; agentId: string }>("GET", `/v1/approvals/${p.approvalId}`);
      assert.equal(approval.id, p.approvalId);
      assert.equal(approval.agentId, a.id);
      assert.equal(approval.status, "pending");
    });

    test("a rate limit is a 403 RATE_LIMITED with Retry-After and retryAfter", async () => {
      const a = await agent([{ resource: "http:repos:*", actions: ["get"], constraints: { rateLimit: { max: 1, window: "1h" } } }]);
      assertAllowed(await send(app.url, { method: "GET", path: "/repos/1", token: a.token }), a.perms[0]);
      const res = await refused("RATE_LIMITED", { method: "GET", path: "/repos/1", token: a.token });
      const p = assertRefusal(res, { status: 403, reason: "RATE_LIMITED", detail: "the permission's rate limit is exhausted" });
      assert.match(p.retryAfter ?? "", /^[0-9hms.]+$/);
      const seconds = Math.ceil(parseDuration(p.retryAfter ?? "") / 1e9);
      assert.ok(seconds > 3500 && seconds <= 3600, `retryAfter ${p.retryAfter}`);
      assert.equal(res.headers["retry-after"], String(seconds));
    });

    test("a Kavach OAuth access token for the app is accepted; one for another audience is a 401", async () => {
      const token = await oauthAccessToken(k, appResource);
      const agentId = String(jwtClaims(token).agent_id ?? "");
      assert.match(agentId, /^agt_/);
      const current = await k.api<{ permissions: Permission[] }>("GET", `/v1/agents/${agentId}`);
      const updated = await k.api<{ permissions: Permission[] }>("PATCH", `/v1/agents/${agentId}`, {
        permissions: [...current.permissions, { resource: "http:repos:*", actions: ["get"] }],
      });
      const grant = updated.permissions.find((p) => p.resource === "http:repos:*")?.id ?? "";
      assertAllowed(await send(app.url, { method: "GET", path: "/repos/5", token }), grant);

      const other = await oauthAccessToken(k, otherResource);
      const res = await refused("another audience", { method: "GET", path: "/repos/5", token: other });
      assertRefusal(res, {
        status: 401,
        reason: "TOKEN_INVALID",
        detail: "the token was issued for another resource",
        challenge: 'Bearer realm="kavach", error="invalid_token"',
      });
    });

    options.more?.({ kavach: () => k, env: () => env, app: () => app, agent });

    test("every refusal is byte for byte the Go net/http adapter's (audit and approval ids, exact waits aside)", async () => {
      if (!go) throw new Error(`cannot compare with the Go adapter: ${String((goFailure as Error)?.message ?? goFailure)}`);
      assert.ok(refusals.length >= 9, `only ${refusals.length} refusals recorded`);
      for (const r of refusals) {
        const want = await send(go.url, r.probe);
        assert.equal(r.answer.status, want.status, `${r.label}: status`);
        assert.deepEqual(r.answer.headers, want.headers, `${r.label}: headers`);
        assert.equal(normalized(r.answer.body), normalized(want.body), `${r.label}: body`);
      }
    });

    test("with Kavach unreachable every request is a 503 with Retry-After: 5, never let through", async () => {
      const a = await agent([{ resource: "http:repos:*", actions: ["get"] }]);
      await k.stop();
      try {
        const probe: Probe = { method: "GET", path: "/repos/1", token: a.token };
        const res = await send(app.url, probe);
        assertRefusal(res, { status: 503, reason: "ENGINE_ERROR", detail: "the authorization service failed" });
        assert.equal(res.headers["retry-after"], "5");
        if (go) {
          const want = await send(go.url, probe);
          assert.equal(res.status, want.status);
          assert.deepEqual(res.headers, want.headers);
          assert.equal(res.body, want.body);
        }
      } finally {
        await k.restart();
      }
    });
  });
}
