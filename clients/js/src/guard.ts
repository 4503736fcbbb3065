/**
 * The adapters' common core. A Guard authenticates the calling agent from its bearer token
 * (a kv_ agent token, or a Kavach OAuth access token when configured), maps the request to
 * a call, asks Kavach with the client's address, and returns either the decision that lets
 * the request through or the refusal to answer with. Every framework adapter is a thin skin
 * over check(); the contract is the Go adapters' (docs/adapters.md).
 *
 * It fails closed: an error on the way to Kavach is a 503 refusal, never a pass-through.
 */
import { AccessTokenError, createAccessTokenVerifier } from "./accesstoken.js";
import type { AccessTokenOptions, AccessTokenVerifier } from "./accesstoken.js";
import { KavachClient } from "./client.js";
import type { Authorizer, KavachClientOptions } from "./client.js";
import { KavachError } from "./errors.js";
import { ClientIPResolver } from "./ip.js";
import { defaultPrefix, patternCall, type RouteFacts } from "./mapping.js";
import { denied, unauthenticated, unavailable, unmappable, type Refusal } from "./refusal.js";
import { withIncomingTrace, type HeaderReader } from "./trace.js";
import type { AuthorizeCall, CallContext, Decision } from "./types.js";

/** The agent token prefix. */
export const tokenPrefix = "kv_";

/** What a Guard needs to know of a request, whatever framework carried it. */
export interface GuardRequest extends RouteFacts {
  /** The Authorization header's value. */
  authorization?: string | null;
  /** The connection's peer address ("ip", "ip:port" or "[ipv6]:port"). */
  remoteAddress?: string;
  /** The X-Forwarded-For header values, believed only from trusted proxies. */
  forwardedFor?: string[];
  userAgent?: string;
  /**
   * Reads a request header by its lower-case name: the caller's W3C trace context
   * (traceparent, tracestate, baggage) is continued in the authorize call when
   * @opentelemetry/api is present.
   */
  header?: HeaderReader;
  /** The framework's own request or context object, for a custom map. */
  raw?: unknown;
}

/** Turns a request into the call to authorize; throwing (or rejecting) makes it a 400. */
export type MapRequest = (req: GuardRequest) => AuthorizeCall | Promise<AuthorizeCall>;

export interface GuardOptions {
  /** Whom to ask: a KavachClient (or any Authorizer), or the URL and app key to make one. */
  kavach: Authorizer | KavachClientOptions;
  /** Proxies (addresses or CIDRs) whose X-Forwarded-For is believed. Empty: the peer is the client. */
  trustedProxies?: string[];
  /** Accept Kavach OAuth access tokens too: a verifier, or the issuer and this API's resource URI. */
  accessTokens?: AccessTokenVerifier | AccessTokenOptions;
  /** The first segment of mapped resources (default "http"). */
  prefix?: string;
  /** Replaces the default mapping (method on the route's resource, route params as arguments). */
  map?: MapRequest;
  /** Receives failures to reach Kavach (default console.error). */
  onError?: (message: string, error: unknown) => void;
}

/** The outcome of a check: allowed with the decision, or refused. */
export type Verdict = { allowed: true; decision: Decision } | { allowed: false; refusal: Refusal };

/** How a request presents its agent. */
export interface Caller {
  /** The bearer token; empty if none came. */
  token: string;
  /** The client's address, already resolved. */
  ip: string;
  userAgent?: string;
}

export class Guard {
  readonly kavach: Authorizer;
  readonly prefix: string;
  private readonly ips: ClientIPResolver;
  private readonly accessTokens?: AccessTokenVerifier;
  private readonly map?: MapRequest;
  private readonly onError: (message: string, error: unknown) => void;

  constructor(opts: GuardOptions) {
    if (!opts?.kavach) throw new Error("kavach: a Kavach client (or its url and apiKey) is required");
    this.kavach = isAuthorizer(opts.kavach) ? opts.kavach : new KavachClient(opts.kavach);
    this.ips = new ClientIPResolver(opts.trustedProxies);
    const at = opts.accessTokens;
    this.accessTokens = at === undefined ? undefined : "verify" in at ? at : createAccessTokenVerifier(at);
    this.prefix = opts.prefix ?? defaultPrefix;
    this.map = opts.map;
    this.onError = opts.onError ?? ((m, e) => console.error(m, e));
  }

  /** check authenticates the request's agent, maps the request and asks Kavach. */
  async check(req: GuardRequest): Promise<Verdict> {
    let call: AuthorizeCall;
    try {
      call = this.map ? await this.map(req) : patternCall(this.prefix, req);
    } catch (err) {
      return { allowed: false, refusal: unmappable((err as Error)?.message ?? String(err)) };
    }
    const caller = { token: bearer(req.authorization) ?? "", ip: this.clientIP(req), userAgent: req.userAgent };
    return withIncomingTrace(req.header, () => this.decide(caller, call));
  }

  /** clientIP is the connection's peer, or the left-most X-Forwarded-For hop not written by a trusted proxy. */
  clientIP(req: Pick<GuardRequest, "remoteAddress" | "forwardedFor">): string {
    return this.ips.resolve(req.remoteAddress, req.forwardedFor);
  }

  /** decide is check for a request already mapped (MCP tool calls, other protocols). */
  async decide(caller: Caller, call: AuthorizeCall): Promise<Verdict> {
    const token = caller.token.trim();
    if (token === "") return { allowed: false, refusal: unauthenticated("", "a bearer token is required") };
    const context: CallContext = {};
    if (caller.ip) context.ip = caller.ip;
    if (caller.userAgent) context.userAgent = caller.userAgent;
    let d: Decision;
    try {
      if (token.startsWith(tokenPrefix)) {
        d = await this.kavach.authorizeToken(token, call, context);
      } else if (this.accessTokens) {
        let agentId: string;
        try {
          agentId = (await this.accessTokens.verify(token)).agentId;
        } catch (err) {
          if (err instanceof AccessTokenError) {
            return { allowed: false, refusal: unauthenticated("TOKEN_INVALID", err.message) };
          }
          throw err;
        }
        d = await this.kavach.authorize(agentId, call, context);
      } else {
        return { allowed: false, refusal: unauthenticated("TOKEN_INVALID", "the token is not a Kavach agent token") };
      }
    } catch (err) {
      return { allowed: false, refusal: this.failed(err) };
    }
    return d.allowed ? { allowed: true, decision: d } : { allowed: false, refusal: denied(d) };
  }

  /** failed turns an error on the way to a decision into a refusal; the request does not proceed. */
  private failed(err: unknown): Refusal {
    if (err instanceof KavachError && err.isInvalidInput) return unmappable(err.message);
    this.onError("kavach: authorize failed; the request is refused", err);
    return unavailable();
  }
}

function isAuthorizer(v: Authorizer | KavachClientOptions): v is Authorizer {
  return typeof (v as Authorizer).authorizeToken === "function";
}

/** bearer returns the token of an Authorization: Bearer header. Tokens in a query string are never accepted. */
export function bearer(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const sp = header.indexOf(" ");
  if (sp < 0) return undefined;
  const token = header.slice(sp + 1).trim();
  return header.slice(0, sp).toLowerCase() === "bearer" && token !== "" ? token : undefined;
}

/** forwardedFor splits a header value as Node gives it (string, string[] or absent). */
export function headerValues(v: string | string[] | null | undefined): string[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** withoutRawHeader drops a header from Node's [name, value, …] raw headers. */
export function withoutRawHeader(raw: string[], name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i].toLowerCase() !== lower) out.push(raw[i], raw[i + 1]);
  }
  return out;
}
