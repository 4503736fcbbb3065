/**
 * The Next.js adapter through Next's real server: test/apps/next is built once (`next build`,
 * skipped while the app's sources and the compiled package are those it was built from) and
 * served with `next start`, configured through the environment. The app imports
 * `@kavach/sdk/next` by the package's name.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { adapterSuite, send, type SuiteContext, type SuiteEnv, type TestApp } from "./adapter-suite.js";
import { freePort, packageRoot } from "./harness.js";

const appDir = join(packageRoot, "test", "apps", "next");
const nextBin = join(packageRoot, "node_modules", "next", "dist", "bin", "next");

/** sources lists the files under dir, skipping build output. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if ([".next", "node_modules", "cache", "next-env.d.ts"].includes(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else out.push(p);
  }
  return out.sort();
}

/** fingerprint hashes the app's sources and the compiled package it imports. */
function fingerprint(): string {
  const h = createHash("sha256");
  for (const f of [...sources(appDir), ...sources(join(packageRoot, "dist", "src"))]) {
    h.update(f).update("\0").update(readFileSync(f)).update("\0");
  }
  return h.digest("hex");
}

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawn(process.execPath, [nextBin, ...args], {
    cwd: appDir,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
}

let built: Promise<void> | undefined;

/** build runs `next build` unless the last build is newer than the app and the adapter. */
function build(): Promise<void> {
  built ??= (async () => {
    const stamp = join(appDir, ".next", "kavach-sources.sha256");
    const want = fingerprint();
    if (existsSync(join(appDir, ".next", "BUILD_ID")) && existsSync(stamp) && readFileSync(stamp, "utf8") === want) return;
    const p = run(["build"]);
    let out = "";
    p.stdout.on("data", (b: Buffer) => (out += b.toString()));
    p.stderr.on("data", (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((r) => p.once("exit", r));
    if (code !== 0) throw new Error(`next build failed (${code}):\n${out}`);
    writeFileSync(stamp, want);
  })();
  return built;
}

async function start(env: SuiteEnv): Promise<TestApp> {
  await build();
  const port = await freePort();
  const p = run(["start", "--hostname", "127.0.0.1", "--port", String(port)], {
    KAVACH_URL: env.kavachUrl,
    KAVACH_API_KEY: env.appKey,
    KAVACH_ISSUER: env.issuer,
    KAVACH_RESOURCE: env.resource,
    KAVACH_TRUSTED_PROXIES: env.trustedProxies.join(","),
  });
  let out = "";
  p.stdout.on("data", (b: Buffer) => (out += b.toString()));
  p.stderr.on("data", (b: Buffer) => (out += b.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, rej) => p.once("exit", (code) => rej(new Error(`next start exited (${code}):\n${out}`))));
  exited.catch(() => {});
  const ready = (async () => {
    for (let i = 0; i < 600; i++) {
      try {
        await fetch(url + "/ready-probe");
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`next start did not listen:\n${out}`);
  })();
  await Promise.race([ready, exited]);
  return {
    url,
    close: async () => {
      if (p.exitCode !== null || p.pid === undefined) return;
      const gone = new Promise<void>((r) => p.once("exit", () => r()));
      process.kill(-p.pid, "SIGTERM");
      await gone;
    },
  };
}

/** proxy.ts guards /proxied/, mapping the path; its route handler is not wrapped. */
function proxyTests(s: SuiteContext): void {
  test("proxy.ts lets an allowed request through without Authorization, the decision in headers it set itself", async () => {
    const a = await s.agent([{ resource: "http:proxied:repos:*", actions: ["get"] }]);
    const res = await send(s.app().url, {
      method: "GET",
      path: "/proxied/repos/42",
      token: a.token,
      headers: { "x-kavach-audit-id": "aud_spoofed", "x-kavach-grant": "perm_spoofed" },
    });
    assert.equal(res.status, 200, res.body);
    const body = JSON.parse(res.body) as { code: string; grant: string; auditId: string; sawAuthorization: boolean };
    assert.equal(body.grant, a.perms[0]);
    assert.notEqual(body.auditId, "aud_spoofed");
    assert.match(body.auditId, /.+/);
    assert.equal(body.sawAuthorization, false);
  });

  test("proxy.ts maps the path and answers refusals as the route handlers do", async () => {
    const a = await s.agent([{ resource: "http:repos:*", actions: ["get"] }]);
    const res = await send(s.app().url, { method: "GET", path: "/proxied/repos/42", token: a.token });
    assert.equal(res.status, 403, res.body);
    assert.equal(res.headers["content-type"], "application/problem+json");
    assert.equal(res.headers["cache-control"], "no-store");
    const p = JSON.parse(res.body) as { reason: string; detail: string };
    assert.equal(p.reason, "NO_PERMISSION");
    assert.equal(p.detail, 'no permission grants "get" on "http:proxied:repos:42"');
    const none = await send(s.app().url, { method: "GET", path: "/proxied/repos/42" });
    assert.equal(none.status, 401);
    assert.equal(none.headers["www-authenticate"], 'Bearer realm="kavach"');
  });
}

adapterSuite("Next.js", start, { peerHidden: true, more: proxyTests });
