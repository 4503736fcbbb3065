/**
 * The test harness: a real `kavach serve` built from this repository, on loopback, over a
 * SQLite file in a temporary directory. Nothing here is mocked.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import assert from "node:assert/strict";
import { KavachError } from "../src/errors.js";

const run = promisify(execFile);

/** The repository's root (clients/js/test/… or clients/js/dist/test/…). */
export const repoRoot = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!d.endsWith(join("clients", "js"))) d = dirname(d);
  return resolve(d, "..", "..");
})();

/** The package's own directory (clients/js). */
export const packageRoot = join(repoRoot, "clients", "js");

let built: Promise<string> | undefined;

/** goBuild builds a Go main package of this repository once per test process and returns the binary. */
export function goBuild(pkg: string, name: string): Promise<string> {
  const out = join(tmpdir(), `kavach-js-test-${process.pid}`, name);
  return run("go", ["build", "-o", out, pkg], { cwd: repoRoot, maxBuffer: 16 << 20 }).then(() => out);
}

/** kavachBinary is the `kavach` command built from this repository. */
export function kavachBinary(): Promise<string> {
  built ??= goBuild("./cmd/kavach", "kavach");
  return built;
}

/** freePort finds a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => (typeof addr === "object" && addr ? res(addr.port) : rej(new Error("no port"))));
    });
  });
}

export interface KavachOptions {
  /** Run the OAuth authorization server: the issuer path under the server ("/oauth"). */
  issuerPath?: string;
  /** Dev login with auto-approve (an OAuth flow needs no human). */
  devLogin?: boolean;
  /** --oauth-resource NAME=URI entries. */
  oauthResources?: Record<string, string>;
  /** --trusted-proxies for the server itself. */
  trustedProxies?: string[];
  /** Extra serve flags. */
  args?: string[];
}

export interface Kavach {
  url: string;
  /** The issuer, when the OAuth server runs. */
  issuer?: string;
  /** The root API key. */
  rootKey: string;
  dir: string;
  /** Stops the server (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
  /** Starts it again on the same address and database. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
  /** The server's stderr so far. */
  log(): string;
  /** Makes an API key (default role app) with the root key and returns its secret. */
  apiKey(role?: "admin" | "app" | "user", ownerId?: string): Promise<string>;
  /** Calls the API with the root key. */
  api<T = unknown>(method: string, path: string, body?: unknown, key?: string): Promise<T>;
}

/** startKavach runs `kavach serve` and waits until it is ready. */
export async function startKavach(opts: KavachOptions = {}): Promise<Kavach> {
  const bin = await kavachBinary();
  const dir = mkdtempSync(join(tmpdir(), "kavach-js-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const rootKey = (await run(bin, ["api-key", "mint"])).stdout.trim();
  const issuer = opts.issuerPath ? url + opts.issuerPath : undefined;
  const args = ["serve", "--listen", `127.0.0.1:${port}`, "--database", `sqlite://${join(dir, "kavach.db")}`];
  if (issuer) args.push("--issuer", issuer);
  if (opts.devLogin) args.push("--dev-login-auto-approve");
  if (opts.oauthResources && Object.keys(opts.oauthResources).length > 0) {
    args.push(
      "--oauth-resource",
      Object.entries(opts.oauthResources)
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
    );
  }
  if (opts.trustedProxies?.length) args.push("--trusted-proxies", opts.trustedProxies.join(","));
  args.push(...(opts.args ?? []));

  let proc: ChildProcess | undefined;
  let stderr = "";
  const start = async () => {
    proc = spawn(bin, args, {
      cwd: dir,
      env: { ...process.env, KAVACH_BOOTSTRAP_ADMIN_KEY: rootKey },
      stdio: ["ignore", "ignore", "pipe"],
    });
    proc.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<never>((_, rej) =>
      proc?.once("exit", (code) => rej(new Error(`kavach serve exited (${code}):\n${stderr}`))),
    );
    const ready = (async () => {
      for (let i = 0; i < 600; i++) {
        try {
          const r = await fetch(url + "/readyz");
          if (r.ok) return;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`kavach serve did not become ready:\n${stderr}`);
    })();
    await Promise.race([ready, exited]);
  };
  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(t);
  };
  const api = async <T>(method: string, path: string, body?: unknown, key = rootKey): Promise<T> => {
    const r = await fetch(url + path, {
      method,
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  await start();
  return {
    url,
    issuer,
    rootKey,
    dir,
    stop,
    restart: start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => stderr,
    api,
    async apiKey(role = "app", ownerId) {
      const k = await api<{ key?: string; secret?: string }>("POST", "/v1/api-keys", {
        role,
        tenantId: "default",
        ownerId,
        name: `test ${role}`,
      });
      const secret = k.key ?? k.secret;
      if (!secret) throw new Error("no key in " + JSON.stringify(k));
      return secret;
    },
  };
}

/** An agent as created: its id and its token. */
export interface TestAgent {
  id: string;
  token: string;
}

/** createAgent makes an agent owned by ownerId with the given permissions. */
export async function createAgent(k: Kavach, permissions: unknown[], ownerId = "user_1", name = "agent"): Promise<TestAgent> {
  const a = await k.api<{ agent?: { id: string }; id?: string; token: string }>("POST", "/v1/agents", {
    ownerId,
    name,
    permissions,
  });
  return { id: a.agent?.id ?? a.id ?? "", token: a.token };
}

/** rejects awaits p and returns the KavachError it rejected with; anything else fails the test. */
export async function rejects(p: Promise<unknown>): Promise<KavachError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KavachError, `want a KavachError, got ${err}`);
    return err;
  }
  assert.fail("the request succeeded");
}
