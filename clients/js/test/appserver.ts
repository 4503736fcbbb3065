/**
 * Framework servers as the tests run them: a real dev or production server in its own process
 * group on loopback, ready once it answers HTTP, and stopped with everything it started.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { SuiteEnv, TestApp } from "./adapter-suite.js";
import { freePort, packageRoot } from "./harness.js";

/** The package's own bin directory (clients/js/node_modules/.bin). */
export const binDir = join(packageRoot, "node_modules", ".bin");

/** The directory of an app under test/apps. */
export function appDir(name: string): string {
  return join(packageRoot, "test", "apps", name);
}

/** kavachEnv is how an app under test learns its configuration: environment variables its hook file reads. */
export function kavachEnv(env: SuiteEnv): Record<string, string> {
  return {
    KAVACH_URL: env.kavachUrl,
    KAVACH_API_KEY: env.appKey,
    KAVACH_TRUSTED_PROXIES: env.trustedProxies.join(","),
    KAVACH_ISSUER: env.issuer,
    KAVACH_RESOURCE: env.resource,
  };
}

export interface ServerSpec {
  /** The command and its arguments; "{port}" in an argument is replaced by the port. */
  command: string;
  args: string[];
  cwd: string;
  /** Added to the test process's environment; PORT and HOST are set too. */
  env?: Record<string, string>;
  /** Requested until anything answers (default "/"). */
  readyPath?: string;
  /** How long start-up may take (default 180 s). */
  timeoutMs?: number;
}

export interface AppServer extends TestApp {
  /** The server's output so far. */
  log(): string;
  /** Milliseconds from spawning to the first answer. */
  startupMs: number;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of running) killGroup(p, "SIGKILL");
});

/** startServer runs a server on a free port and resolves once it answers. */
export async function startServer(spec: ServerSpec): Promise<AppServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const began = Date.now();
  const proc = spawn(spec.command, spec.args.map((a) => a.replaceAll("{port}", String(port))), {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env, PORT: String(port), HOST: "127.0.0.1", NODE_ENV: undefined },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  running.add(proc);
  let out = "";
  proc.stdout?.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr?.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const close = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      killGroup(proc, "SIGTERM");
      const t = setTimeout(() => killGroup(proc, "SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
    killGroup(proc, "SIGKILL"); // anything the server left behind in its group
    running.delete(proc);
  };
  const deadline = began + (spec.timeoutMs ?? 180_000);
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      await close();
      throw new Error(`${spec.command} exited (${proc.exitCode ?? proc.signalCode}):\n${out}`);
    }
    try {
      const res = await fetch(url + (spec.readyPath ?? "/"), { signal: AbortSignal.timeout(60_000) });
      await res.arrayBuffer();
      break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await close();
      throw new Error(`${spec.command} did not answer on ${url}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, close, log: () => out, startupMs: Date.now() - began };
}

function killGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  if (p.pid === undefined) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    // the group is gone
  }
}

/** packagesImportedBy lists the packages the package's own modules import when spec is loaded. */
export function packagesImportedBy(spec: string): string[] {
  const hook = `export async function resolve(s, c, next) {
    if (!/^(\\.|\\/|node:|data:|file:)/.test(s) && c.parentURL?.includes("/dist/src/")) console.log("import " + s);
    return next(s, c);
  }`;
  const code = `import { register } from "node:module";
    register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hook)}));
    await import(${JSON.stringify(spec)});`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: packageRoot, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`importing ${spec}: ${r.stderr}`);
  return [...new Set(r.stdout.split("\n").filter((l) => l.startsWith("import ")).map((l) => l.slice(7)))].sort();
}
