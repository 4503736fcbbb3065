/**
 * The Kavach HTTP client: one API key, the whole v1 API, typed from docs/openapi.yaml.
 * Failures come back as KavachError carrying the problem document; a request that got no
 * answer is a KavachUnavailableError.
 */
import { codeOfStatus, KavachError, KavachUnavailableError, type Problem } from "./errors.js";
import type { AuthorizeCall, CallContext, Decision } from "./types.js";

export interface KavachClientOptions {
  /** The server's base URL, e.g. "https://kavach.example.com". */
  url: string;
  /** The API key (kva_…) every request is made as. */
  apiKey: string;
  /** The fetch to send requests with (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Per-request timeout in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** The User-Agent of requests, where the runtime lets it be set. */
  userAgent?: string;
}

/** Decides calls: what the adapters need of Kavach. KavachClient is one. */
export interface Authorizer {
  /** May the agent with this id make this call? */
  authorize(agentId: string, call: AuthorizeCall, context?: CallContext): Promise<Decision>;
  /** May the agent holding this kv_ token make this call? */
  authorizeToken(token: string, call: AuthorizeCall, context?: CallContext): Promise<Decision>;
}

/** One request to the API. */
export interface RequestSpec {
  method: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** The bearer credential, if not the client's API key. */
  bearer?: string;
  accept?: string;
  signal?: AbortSignal;
}

export class KavachClient implements Authorizer {
  readonly url: string;
  private readonly apiKey: string;
  private readonly doFetch: typeof fetch;
  private readonly timeoutMs: number;
  private readonly userAgent?: string;

  constructor(opts: KavachClientOptions) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new Error(`kavach client: base URL "${opts.url}" must be http(s)://host[:port][/path]`);
    }
    if ((u.protocol !== "http:" && u.protocol !== "https:") || u.host === "") {
      throw new Error(`kavach client: base URL "${opts.url}" must be http(s)://host[:port][/path]`);
    }
    if (!opts.apiKey) throw new Error("kavach client: an API key (kva_…) is required");
    this.url = u.href.replace(/\/+$/, "");
    this.apiKey = opts.apiKey;
    this.doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.userAgent = opts.userAgent;
  }

  authorize(agentId: string, call: AuthorizeCall, context?: CallContext): Promise<Decision> {
    return this.json<Decision>({ method: "POST", path: "/v1/authorize", body: { agentId, ...call, context } });
  }

  authorizeToken(token: string, call: AuthorizeCall, context?: CallContext): Promise<Decision> {
    return this.json<Decision>({ method: "POST", path: "/v1/authorize", body: { token: token || "-", ...call, context } });
  }

  /** Sends one request and returns the raw response, after turning error statuses into KavachError. */
  async send(spec: RequestSpec): Promise<Response> {
    const url = new URL(this.url + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = {
      Authorization: "Bearer " + (spec.bearer ?? this.apiKey),
      Accept: spec.accept ?? "application/json",
    };
    if (this.userAgent) headers["User-Agent"] = this.userAgent;
    let body: string | undefined;
    if (spec.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(spec.body);
    }
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await this.doFetch(url, { method: spec.method, headers, body, signal });
    } catch (err) {
      throw new KavachUnavailableError(`kavach: ${spec.method} ${spec.path}: ${(err as Error)?.message ?? err}`, {
        cause: err,
      });
    }
    if (res.ok) return res;
    throw await problemOf(res);
  }

  /** Sends one request and decodes its JSON answer. */
  async json<T>(spec: RequestSpec): Promise<T> {
    const res = await this.send(spec);
    try {
      return (await res.json()) as T;
    } catch (err) {
      throw new KavachUnavailableError(`kavach: ${spec.method} ${spec.path}: the answer is not JSON`, { cause: err });
    }
  }
}

/** problemOf reads a failed response's problem document (or makes one from its status). */
async function problemOf(res: Response): Promise<KavachError> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    // the status alone must do
  }
  let p: Partial<Problem> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object") p = parsed as Partial<Problem>;
  } catch {
    p = { detail: text.slice(0, 500) || undefined };
  }
  return new KavachError({
    ...p,
    type: p.type ?? "about:blank",
    title: p.title ?? res.statusText,
    status: res.status,
    code: p.code || codeOfStatus(res.status),
  });
}
