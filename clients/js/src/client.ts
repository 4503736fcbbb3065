/**
 * The Kavach HTTP client: one API key, the whole v1 API, typed from docs/openapi.yaml.
 *
 * Methods are grouped by resource, as the Go client's are; each answers the route's JSON
 * as the API documents it:
 *
 *   kavach.healthz() · readyz() · policyStatus()
 *   kavach.replayPolicy(bundle, query)                                  what a candidate bundle would change
 *   kavach.authorize(agentId, call, ctx) · authorizeToken(token, call, ctx)
 *   kavach.check(agentId, call, ctx) · checkToken(token, call, ctx)       dry runs
 *   kavach.authorizeAsAgent(agentToken, call)                           POST /v1/authorize/token
 *   kavach.tenants      .create · list · get
 *   kavach.apiKeys      .create · list · revoke
 *   kavach.agents       .create · list · all · get · update · rotate · revoke · capabilities · validateToken
 *   kavach.delegations  .create · list · get · revoke
 *   kavach.approvals    .list · get · approve · deny
 *   kavach.audit        .query · all · export · exportEvents · verify · verifyLines
 *   kavach.authzen      .configuration · evaluation · evaluations · searchAction · searchResource · searchSubject
 *
 * `list` and `query` answer one page; `all` follows `nextCursor` through every page. Each
 * method takes an optional last argument `{signal}` to cancel it; a replay is waited for until
 * it answers or its signal ends it, whatever the client's timeout.
 *
 * A failed request (any 4xx or 5xx) is a KavachError carrying the problem document; a
 * request that got no answer (refused, reset, timed out) is a KavachUnavailableError.
 * Path ids are percent-encoded as one segment, and ids no URL can carry as a segment
 * ("", ".", "..") are refused before anything is sent.
 */
import { codeOfStatus, KavachError, KavachUnavailableError, type Problem } from "./errors.js";
import { injectTraceContext } from "./trace.js";
import type * as T from "./types.js";
import type { AuthorizeCall, CallContext, Decision } from "./types.js";

export interface KavachClientOptions {
  /** The server's base URL, e.g. "https://kavach.example.com". */
  url: string;
  /** The API key (kva_…) every request is made as. */
  apiKey: string;
  /** The fetch to send requests with (default globalThis.fetch). */
  fetch?: typeof fetch;
  /**
   * Per-request timeout in milliseconds (default 30 000). For a streamed answer (an audit
   * export or verification) it bounds the wait for the response's headers only; a policy
   * replay is not bounded by it at all.
   */
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
  /** The path, ids already encoded (see KavachClient.path). */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** A body sent as JSON. */
  body?: unknown;
  /** A body sent as it is, as `rawType` (instead of `body`). */
  raw?: Uint8Array | ArrayBuffer | Blob;
  rawType?: string;
  /** The bearer credential, if not the client's API key. */
  bearer?: string;
  accept?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** The body is streamed: the timeout covers only the wait for the headers. */
  stream?: boolean;
  /** The server answers when its work is done, however long that takes: no timeout, only `signal` ends the wait. */
  untimed?: boolean;
}

/** What every method takes last. */
export interface RequestOptions {
  /** Cancels the request (and a streamed answer's body). */
  signal?: AbortSignal;
}

export class KavachClient implements Authorizer {
  readonly url: string;
  readonly tenants: Tenants;
  readonly apiKeys: APIKeys;
  readonly agents: Agents;
  readonly delegations: Delegations;
  readonly approvals: Approvals;
  readonly audit: Audit;
  readonly authzen: AuthZEN;
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
    this.tenants = new Tenants(this);
    this.apiKeys = new APIKeys(this);
    this.agents = new Agents(this);
    this.delegations = new Delegations(this);
    this.approvals = new Approvals(this);
    this.audit = new Audit(this);
    this.authzen = new AuthZEN(this);
  }

  /** GET /healthz: the process is up. */
  healthz(o?: RequestOptions): Promise<T.Status> {
    return this.json({ method: "GET", path: "/healthz", signal: o?.signal });
  }

  /** GET /readyz: ready for traffic; a KavachError of status 503 names the parts that are not. */
  readyz(o?: RequestOptions): Promise<T.Status> {
    return this.json({ method: "GET", path: "/readyz", signal: o?.signal });
  }

  /** GET /v1/policy/status: the active policy revision and the last one refused. */
  policyStatus(o?: RequestOptions): Promise<T.PolicyStatus> {
    return this.json({ method: "GET", path: "/v1/policy/status", signal: o?.signal });
  }

  /**
   * POST /v1/policy/replay (root keys only): re-decides the recorded decisions under the
   * active revision and under the candidate bundle (a .tar.gz as `kavach bundle build` makes
   * it) and answers what would change. The server answers only when the replay is done,
   * which for a long ledger outlasts the client's timeout: the wait is not timed, and only
   * `signal` ends it. A candidate the server refuses is a KavachError 400 with field "bundle".
   */
  async replayPolicy(bundle: T.PolicyBundle, query: T.ReplayQuery = {}, o?: RequestOptions): Promise<T.ReplayReport> {
    const since = query.since instanceof Date ? timestamp(query.since, "since") : query.since;
    return this.json({
      method: "POST",
      path: "/v1/policy/replay",
      query: { ...query, since },
      raw: bundle,
      rawType: "application/gzip",
      untimed: true,
      signal: o?.signal,
    });
  }

  /** POST /v1/authorize: may the agent with this id make this call? */
  authorize(agentId: string, call: AuthorizeCall, context?: CallContext, o?: RequestOptions): Promise<Decision> {
    return this.json<Decision>({ method: "POST", path: "/v1/authorize", body: { agentId, ...call, context }, signal: o?.signal });
  }

  /** POST /v1/authorize with `token`: may the agent that presented this kv_ token to the app make this call? */
  authorizeToken(token: string, call: AuthorizeCall, context?: CallContext, o?: RequestOptions): Promise<Decision> {
    return this.json<Decision>({
      method: "POST",
      path: "/v1/authorize",
      body: { token: token || "-", ...call, context },
      signal: o?.signal,
    });
  }

  /** A dry run of authorize: the same decision, audited as a check, no rate slot taken, no approval opened. */
  check(agentId: string, call: AuthorizeCall, context?: CallContext, o?: RequestOptions): Promise<Decision> {
    return this.authorize(agentId, { ...call, dryRun: true }, context, o);
  }

  /** A dry run of authorizeToken. */
  checkToken(token: string, call: AuthorizeCall, context?: CallContext, o?: RequestOptions): Promise<Decision> {
    return this.authorizeToken(token, { ...call, dryRun: true }, context, o);
  }

  /**
   * POST /v1/authorize/token, presenting the agent's own kv_ token as the credential instead
   * of the API key, as the agent itself would: the client address is the connection's.
   */
  authorizeAsAgent(agentToken: string, call: AuthorizeCall, o?: RequestOptions): Promise<Decision> {
    return this.json<Decision>({ method: "POST", path: "/v1/authorize/token", body: call, bearer: agentToken || "-", signal: o?.signal });
  }

  /**
   * path joins literal segments and ids: every id is percent-encoded as one segment, so
   * that an id holding "/", "?" or "%2F" cannot reach another route. An id that is empty,
   * "." or ".." (which URLs resolve as segments, encoded or not) or not well-formed UTF-16 is
   * refused with a KavachError 400 naming `field`, before anything is sent.
   */
  path(strings: TemplateStringsArray, ...ids: string[]): string {
    let out = strings[0];
    ids.forEach((id, i) => (out += segment(id) + strings[i + 1]));
    return out;
  }

  /** Sends one request and returns the raw response, after turning error statuses into KavachError. */
  async send(spec: RequestSpec): Promise<Response> {
    const url = new URL(this.url + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = {
      ...spec.headers,
      Authorization: "Bearer " + (spec.bearer ?? this.apiKey),
      Accept: spec.accept ?? "application/json",
    };
    if (this.userAgent) headers["User-Agent"] = this.userAgent;
    await injectTraceContext(headers);
    let body: BodyInit | undefined;
    if (spec.raw !== undefined) {
      headers["Content-Type"] = spec.rawType ?? "application/octet-stream";
      // fetch sends any view's bytes; the DOM types want views of an ArrayBuffer, not a Buffer's ArrayBufferLike.
      body = spec.raw as BodyInit;
    } else if (spec.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(spec.body);
    }
    // A streamed answer may take as long as it takes once it has begun: its timer stops at
    // the headers. An untimed one has no timer: the caller's signal alone ends the wait. Any
    // other answer must arrive, body included, within the timeout.
    const streamTimer = spec.stream && !spec.untimed ? new AbortController() : undefined;
    const timeout = spec.untimed ? undefined : (streamTimer?.signal ?? AbortSignal.timeout(this.timeoutMs));
    const stop = streamTimer && setTimeout(() => streamTimer.abort(timeoutError(this.timeoutMs)), this.timeoutMs);
    const signal = spec.signal && timeout ? AbortSignal.any([spec.signal, timeout]) : (spec.signal ?? timeout);
    let res: Response;
    try {
      res = await this.doFetch(url, { method: spec.method, headers, body, signal });
    } catch (err) {
      if (spec.signal?.aborted) throw spec.signal.reason;
      const why = timeout?.aborted ? `no answer within ${this.timeoutMs} ms` : ((err as Error)?.message ?? String(err));
      throw new KavachUnavailableError(`kavach: ${spec.method} ${spec.path}: ${why}`, { cause: err });
    } finally {
      clearTimeout(stop);
    }
    if (res.ok) return res;
    throw await problemOf(res);
  }

  /** Sends one request and decodes its JSON answer. */
  async json<R>(spec: RequestSpec): Promise<R> {
    const res = await this.send(spec);
    try {
      return (await res.json()) as R;
    } catch (err) {
      if (spec.signal?.aborted) throw spec.signal.reason;
      throw new KavachUnavailableError(`kavach: ${spec.method} ${spec.path}: the answer could not be read as JSON`, {
        cause: err,
      });
    }
  }
}

/** Tenants (root creates them; others see their own). */
export class Tenants {
  constructor(private readonly c: KavachClient) {}

  create(req: T.CreateTenantRequest, o?: RequestOptions): Promise<T.Tenant> {
    return this.c.json({ method: "POST", path: "/v1/tenants", body: req, signal: o?.signal });
  }

  list(o?: RequestOptions): Promise<T.TenantList> {
    return this.c.json({ method: "GET", path: "/v1/tenants", signal: o?.signal });
  }

  async get(id: string, o?: RequestOptions): Promise<T.Tenant> {
    return this.c.json({ method: "GET", path: this.c.path`/v1/tenants/${id}`, signal: o?.signal });
  }
}

/** API keys: the secret `key` is in create's answer only. */
export class APIKeys {
  constructor(private readonly c: KavachClient) {}

  create(req: T.CreateAPIKeyRequest, o?: RequestOptions): Promise<T.APIKeyWithSecret> {
    return this.c.json({ method: "POST", path: "/v1/api-keys", body: req, signal: o?.signal });
  }

  list(query: T.ListAPIKeysQuery = {}, o?: RequestOptions): Promise<T.APIKeyList> {
    return this.c.json({ method: "GET", path: "/v1/api-keys", query, signal: o?.signal });
  }

  async revoke(id: string, o?: RequestOptions): Promise<T.APIKey> {
    return this.c.json({ method: "POST", path: this.c.path`/v1/api-keys/${id}/revoke`, signal: o?.signal });
  }
}

/** Agents: the token is in create's and rotate's answers only. */
export class Agents {
  constructor(private readonly c: KavachClient) {}

  create(req: T.CreateAgentRequest, o?: RequestOptions): Promise<T.AgentWithToken> {
    return this.c.json({ method: "POST", path: "/v1/agents", body: req, signal: o?.signal });
  }

  /** One page, in creation order; pass its nextCursor as `cursor` for the next. */
  list(query: T.ListAgentsQuery = {}, o?: RequestOptions): Promise<T.AgentList> {
    return this.c.json({ method: "GET", path: "/v1/agents", query, signal: o?.signal });
  }

  /** Every agent the query matches, page after page. */
  async *all(query: Omit<T.ListAgentsQuery, "cursor"> = {}, o?: RequestOptions): AsyncGenerator<T.Agent> {
    yield* pages((cursor) => this.list({ ...query, cursor }, o), (p) => p.agents ?? []);
  }

  async get(id: string, o?: RequestOptions): Promise<T.Agent> {
    return this.c.json({ method: "GET", path: this.c.path`/v1/agents/${id}`, signal: o?.signal });
  }

  /** Changes the fields that are set; permissions replace the whole list. */
  async update(id: string, req: T.UpdateAgentRequest, o?: RequestOptions): Promise<T.Agent> {
    return this.c.json({ method: "PATCH", path: this.c.path`/v1/agents/${id}`, body: req, signal: o?.signal });
  }

  /** Issues a new token; the old one stops at once, or after `gracePeriod`. */
  async rotate(id: string, req: T.RotateRequest = {}, o?: RequestOptions): Promise<T.RotateResult> {
    return this.c.json({ method: "POST", path: this.c.path`/v1/agents/${id}/rotate`, body: req, signal: o?.signal });
  }

  async revoke(id: string, o?: RequestOptions): Promise<T.Agent> {
    return this.c.json({ method: "POST", path: this.c.path`/v1/agents/${id}/revoke`, signal: o?.signal });
  }

  /** What the agent may do: its own and its delegated grants, with their constraints. */
  async capabilities(id: string, o?: RequestOptions): Promise<T.Capabilities> {
    return this.c.json({ method: "GET", path: this.c.path`/v1/agents/${id}/capabilities`, signal: o?.signal });
  }

  /** The agent a kv_ token belongs to; a KavachError 401 with `reason` if the token is not valid. */
  validateToken(token: string, o?: RequestOptions): Promise<T.Agent> {
    return this.c.json({ method: "POST", path: "/v1/tokens/validate", body: { token }, signal: o?.signal });
  }
}

/** Delegations: a subset of one agent's rights handed to another. */
export class Delegations {
  constructor(private readonly c: KavachClient) {}

  create(req: T.DelegateRequest, o?: RequestOptions): Promise<T.Delegation> {
    return this.c.json({ method: "POST", path: "/v1/delegations", body: req, signal: o?.signal });
  }

  list(query: T.ListDelegationsQuery = {}, o?: RequestOptions): Promise<T.DelegationList> {
    return this.c.json({ method: "GET", path: "/v1/delegations", query, signal: o?.signal });
  }

  async get(id: string, o?: RequestOptions): Promise<T.Delegation> {
    return this.c.json({ method: "GET", path: this.c.path`/v1/delegations/${id}`, signal: o?.signal });
  }

  /** Ends the delegation; everything delegated through it stops at once. */
  async revoke(id: string, o?: RequestOptions): Promise<T.Delegation> {
    return this.c.json({ method: "POST", path: this.c.path`/v1/delegations/${id}/revoke`, signal: o?.signal });
  }
}

/** Approval requests opened by calls whose permission needs a human's approval. */
export class Approvals {
  constructor(private readonly c: KavachClient) {}

  /** Newest first; pending ones unless `status` says otherwise. */
  list(query: T.ListApprovalsQuery = {}, o?: RequestOptions): Promise<T.ApprovalList> {
    return this.c.json({ method: "GET", path: "/v1/approvals", query, signal: o?.signal });
  }

  async get(id: string, o?: RequestOptions): Promise<T.ApprovalRequest> {
    return this.c.json({ method: "GET", path: this.c.path`/v1/approvals/${id}`, signal: o?.signal });
  }

  /** Allows the exact call `uses` times (default 1) within `ttl`. */
  async approve(id: string, req: T.ApproveRequest = {}, o?: RequestOptions): Promise<T.ApprovalRequest> {
    return this.c.json({ method: "POST", path: this.c.path`/v1/approvals/${id}/approve`, body: req, signal: o?.signal });
  }

  /** Denies the call until the request would have expired. */
  async deny(id: string, req: T.DenyRequest = {}, o?: RequestOptions): Promise<T.ApprovalRequest> {
    return this.c.json({ method: "POST", path: this.c.path`/v1/approvals/${id}/deny`, body: req, signal: o?.signal });
  }
}

/** The audit ledger: queries, streamed exports and verification of its hash chains. */
export class Audit {
  constructor(private readonly c: KavachClient) {}

  /** One page, newest first unless `order: "asc"`; pass its nextCursor as `cursor` for the next. */
  query(query: T.AuditQuery = {}, o?: RequestOptions): Promise<T.AuditPage> {
    return this.c.json({ method: "GET", path: "/v1/audit", query, signal: o?.signal });
  }

  /** Every event the query matches, page after page, each once. */
  async *all(query: Omit<T.AuditQuery, "cursor"> = {}, o?: RequestOptions): AsyncGenerator<T.AuditEvent> {
    yield* pages((cursor) => this.query({ ...query, cursor }, o), (p) => p.events);
  }

  /**
   * GET /v1/audit/export: every matching event (oldest first unless `order: "desc"`) as the
   * bytes of a JSON array, NDJSON (the default) or CSV with a header row, streamed as the
   * server writes them; `format: "replay"` (root or a tenant admin) writes the file `kavach policy
   * replay --ledger` reads offline. Bad filters reject the promise; cancel the stream (or
   * the signal) to stop the export.
   */
  async export(query: T.AuditExportQuery = {}, o?: RequestOptions): Promise<ReadableStream<Uint8Array>> {
    const accept = {
      json: "application/json",
      ndjson: "application/x-ndjson",
      csv: "text/csv",
      replay: "application/x-ndjson",
    }[query.format ?? "ndjson"];
    const res = await this.c.send({ method: "GET", path: "/v1/audit/export", query, accept, stream: true, signal: o?.signal });
    return res.body ?? new ReadableStream({ start: (ctl) => ctl.close() });
  }

  /** The export's events, parsed one NDJSON line at a time as they arrive: never the whole export in memory. */
  async *exportEvents(filter: T.AuditFilter = {}, o?: RequestOptions): AsyncGenerator<T.AuditEvent> {
    const body = await this.export({ ...filter, format: "ndjson" }, o);
    yield* ndjson<T.AuditEvent>(body, "GET /v1/audit/export", o?.signal);
  }

  /**
   * Walks the hash chains (the caller's tenant; for root every tenant, or `tenantId`) and
   * answers the report: `ok`, or the first broken or missing event. It listens to the
   * streamed answer, so a long walk is not cut by the timeout; `onProgress` hears each
   * progress line.
   */
  async verify(
    query: T.AuditVerifyQuery = {},
    o?: RequestOptions & { onProgress?: (p: T.AuditProgress) => void },
  ): Promise<T.AuditReport> {
    for await (const line of this.verifyLines(query, o)) {
      if (line.progress) o?.onProgress?.(line.progress);
      if (line.report) return line.report;
      if (line.error) throw new KavachError(problemFrom(line.error, 500, "internal"));
    }
    throw new KavachUnavailableError("kavach: GET /v1/audit/verify: the answer ended before the report");
  }

  /** The streamed verification's lines: progress as each chain's walk goes on, then the report or an error. */
  async *verifyLines(query: T.AuditVerifyQuery = {}, o?: RequestOptions): AsyncGenerator<T.AuditVerifyLine> {
    const res = await this.c.send({
      method: "GET",
      path: "/v1/audit/verify",
      query: { ...query, stream: true },
      accept: "application/x-ndjson",
      stream: true,
      signal: o?.signal,
    });
    if (!res.body) throw new KavachUnavailableError("kavach: GET /v1/audit/verify: the answer has no body");
    yield* ndjson<T.AuditVerifyLine>(res.body, "GET /v1/audit/verify", o?.signal);
  }
}

/** The OpenID AuthZEN Authorization API 1.0 over Kavach's decisions (docs/authzen.md). */
export class AuthZEN {
  constructor(private readonly c: KavachClient) {}

  /** GET /.well-known/authzen-configuration: the Policy Decision Point's metadata. */
  configuration(o?: RequestOptions): Promise<T.AuthZENConfiguration> {
    return this.c.json({ method: "GET", path: "/.well-known/authzen-configuration", signal: o?.signal });
  }

  /** POST /access/v1/evaluation: one decision, always 200 unless the request is bad. */
  evaluation(req: T.AuthZENEvaluationRequest, o?: AuthZENRequestOptions): Promise<T.AuthZENDecision> {
    return this.post("/access/v1/evaluation", req, o);
  }

  /** POST /access/v1/evaluations: a batch, answered in request order (a single decision without `evaluations`). */
  evaluations(
    req: T.AuthZENEvaluationsRequest & { evaluations: T.AuthZENEvaluation[] },
    o?: AuthZENRequestOptions,
  ): Promise<T.AuthZENEvaluationsResponse>;
  evaluations(req: T.AuthZENEvaluationsRequest, o?: AuthZENRequestOptions): Promise<T.AuthZENEvaluationsResponse | T.AuthZENDecision>;
  evaluations(req: T.AuthZENEvaluationsRequest, o?: AuthZENRequestOptions): Promise<T.AuthZENEvaluationsResponse | T.AuthZENDecision> {
    return this.post("/access/v1/evaluations", req, o);
  }

  /** POST /access/v1/search/action: the actions the subject may take on the resource. */
  searchAction(req: T.AuthZENActionSearchRequest, o?: AuthZENRequestOptions): Promise<T.AuthZENActionSearchResponse> {
    return this.post("/access/v1/search/action", req, o);
  }

  /** POST /access/v1/search/resource: the resources of a type the subject may act on with the action. */
  searchResource(req: T.AuthZENResourceSearchRequest, o?: AuthZENRequestOptions): Promise<T.AuthZENResourceSearchResponse> {
    return this.post("/access/v1/search/resource", req, o);
  }

  /** POST /access/v1/search/subject: the agents within the caller's reach that may take the action on the resource. */
  searchSubject(req: T.AuthZENSubjectSearchRequest, o?: AuthZENRequestOptions): Promise<T.AuthZENSubjectSearchResponse> {
    return this.post("/access/v1/search/subject", req, o);
  }

  private post<R>(path: string, body: unknown, o?: AuthZENRequestOptions): Promise<R> {
    const headers = o?.requestId ? { "X-Request-ID": o.requestId } : undefined;
    return this.c.json({ method: "POST", path, body, headers, bearer: o?.bearer, signal: o?.signal });
  }
}

/** What an AuthZEN request takes besides its body. */
export interface AuthZENRequestOptions extends RequestOptions {
  /** Sent as X-Request-ID, which the answer echoes. */
  requestId?: string;
  /** The subject agent's own kv_ token, to ask as the agent instead of as the API key. */
  bearer?: string;
}

/** pages yields every item of a cursor-paged listing. */
async function* pages<P extends { nextCursor?: string }, I>(
  page: (cursor: string | undefined) => Promise<P>,
  items: (p: P) => I[],
): AsyncGenerator<I> {
  let cursor: string | undefined;
  do {
    const p = await page(cursor);
    yield* items(p);
    cursor = p.nextCursor || undefined;
  } while (cursor);
}

/** ndjson parses a stream of NDJSON lines as they arrive; stopping early cancels the stream. */
async function* ndjson<L>(body: ReadableStream<Uint8Array>, what: string, signal?: AbortSignal): AsyncGenerator<L> {
  const reader = body.getReader();
  const text = new TextDecoder();
  let rest = "";
  const parse = (line: string): L => {
    try {
      return JSON.parse(line) as L;
    } catch (err) {
      throw new KavachUnavailableError(`kavach: ${what}: a line is not JSON: ${line.slice(0, 200)}`, { cause: err });
    }
  };
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        throw new KavachUnavailableError(`kavach: ${what}: the answer broke off: ${(err as Error)?.message ?? err}`, {
          cause: err,
        });
      }
      if (chunk.done) break;
      const lines = (rest + text.decode(chunk.value, { stream: true })).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) yield parse(line);
    }
    rest += text.decode();
    if (rest.trim()) yield parse(rest);
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** segment encodes an id as one path segment, or refuses one that cannot be. */
function segment(id: string): string {
  if (typeof id === "string" && id !== "" && id !== "." && id !== "..") {
    try {
      return encodeURIComponent(id);
    } catch {
      // a lone surrogate: not UTF-8, as the server would refuse it
    }
  }
  throw new KavachError(
    problemFrom({ detail: `invalid id ${JSON.stringify(id)}: not a path segment`, field: "id" }, 400, "invalid_input"),
  );
}

/** timestamp formats a Date for the query, or refuses an invalid one before anything is sent. */
function timestamp(d: Date, field: string): string {
  if (Number.isNaN(d.getTime())) {
    throw new KavachError(problemFrom({ detail: `${field}: an invalid Date`, field }, 400, "invalid_input"));
  }
  return d.toISOString();
}

function timeoutError(ms: number): Error {
  const e = new Error(`no answer within ${ms} ms`);
  e.name = "TimeoutError";
  return e;
}

/** problemFrom completes a partial problem document. */
function problemFrom(p: Partial<Problem>, status: number, code: string, title?: string): Problem {
  return {
    ...p,
    type: p.type ?? "about:blank",
    title: p.title ?? title ?? "",
    status: p.status ?? status,
    code: p.code || code,
  };
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
  return new KavachError(problemFrom({ ...p, status: res.status }, res.status, codeOfStatus(res.status), res.statusText));
}
