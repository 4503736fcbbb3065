/**
 * Kavach for MCP servers built on @modelcontextprotocol/sdk with the streamable HTTP
 * transport, behaving as Go's mcpauth (and the gateway's tools/list filter): it serves the
 * RFC 9728 protected resource metadata, requires a Kavach OAuth access token whose audience is
 * this server (or, optionally, a kv_ agent token) and answers 401 and 403 with the
 * WWW-Authenticate challenges MCP clients follow; it authorizes every tools/call as "call" on
 * mcp:<server>:<tool> with the call's arguments and refuses with a JSON-RPC error (-31403)
 * carrying the decision; and it narrows tools/list answers to the tools the agent may call, by
 * dry runs. The bearer token goes no further than this module: the MCP server's handlers get
 * an AuthInfo whose token is empty, and no Authorization header.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import {
  AccessTokenError,
  canonicalResource,
  createAccessTokenVerifier,
  type AccessTokenVerifier,
} from "./accesstoken.js";
import { KavachClient, type Authorizer, type KavachClientOptions } from "./client.js";
import { KavachError, KavachUnavailableError } from "./errors.js";
import { bearer, headerValues, tokenPrefix } from "./guard.js";
import { ClientIPResolver } from "./ip.js";
import { authorizeCalls, guardTransport, type Admitted, type Asker } from "./mcpcalls.js";
import { nodeHeaders, withIncomingTrace, type HeaderReader } from "./trace.js";
import {
  internalServerError,
  limited,
  methodNotAllowed,
  parseError,
  pathOf,
  readNodeBody,
  readWebBody,
  respond,
  stripAuthorization,
  textAnswer,
  textHeaders,
  write,
  type Answer,
} from "./mcphttp.js";
import { goJSON } from "./refusal.js";

export { deniedCode, listable, toolAction, type DeniedData } from "./mcpcalls.js";

export interface KavachMcpOptions {
  /** This MCP server's canonical URI ("https://mcp.example.com/mcp"): the audience its tokens must name. */
  resource: string;
  /** The server's name in Kavach resources: a tool call is authorized as mcp:<server>:<tool>. */
  server: string;
  /** The Kavach authorization server's issuer, exactly. Optional only with agentTokens. */
  issuer?: string;
  /** Whom to ask: a KavachClient (or any Authorizer), or the URL and app key to make one. */
  kavach: Authorizer | KavachClientOptions;
  /** Scopes every token must carry (default ["mcp"]). */
  scopes?: string[];
  /** Accept Kavach agent tokens (kv_…) too, checked by Kavach; `kavach` must then be a KavachClient or its options. */
  agentTokens?: boolean;
  /** Where the signing keys are; by default discovered from the issuer's metadata. */
  jwksUrl?: string;
  /** Proxies (addresses or CIDRs) whose X-Forwarded-For is believed. Empty: the peer is the client. */
  trustedProxies?: string[];
  /** Shown to users by clients that read the metadata. */
  resourceName?: string;
  /** Answer POSTs with JSON instead of an event stream (handler and fetch forms). */
  jsonResponse?: boolean;
  /** The largest JSON-RPC request body read (default 4 MiB). */
  maxBodyBytes?: number;
  /** Tolerated clock skew on exp and nbf, in seconds (default 30). */
  leewaySeconds?: number;
  /** Receives failures to reach Kavach (default console.error). */
  onError?: (message: string, error: unknown) => void;
}

/** Who called, as the guard verified it; a tool handler reads it with callerOf(extra.authInfo). */
export interface McpCaller {
  /** The Kavach agent that acts. */
  agentId: string;
  /** The user the agent acts for. */
  subject: string;
  clientId?: string;
  tenantId?: string;
  scopes: string[];
  /** The token's expiry, in seconds since the epoch (access tokens). */
  expiresAt?: number;
  /** The client's address, resolved with the trusted proxies. */
  ip: string;
  userAgent?: string;
}

/** The RFC 9728 protected resource metadata document. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: string[];
  resource_name?: string;
}

/** An MCP server, or the low-level Server. */
export type AnyMcpServer = McpServer | Server;
/** Makes a fresh MCP server for one request (a server connects to one transport only). */
export type ServerFactory = () => AnyMcpServer | Promise<AnyMcpServer>;
/** A Node request as the guard sees it: Express's parsed body and the AuthInfo it sets. */
export type NodeRequest = IncomingMessage & { body?: unknown; auth?: AuthInfo; originalUrl?: string };
export type NodeNext = (err?: unknown) => void;
export type NodeHandler = (req: NodeRequest, res: ServerResponse, next?: NodeNext) => Promise<void>;

const wellKnown = "/.well-known/oauth-protected-resource";

/** A request at the MCP endpoint, whatever carried it. */
interface Incoming {
  method: string;
  authorization: string | null | undefined;
  ip: string;
  userAgent?: string;
  /** Reads a request header, for the caller's trace context. */
  header?: HeaderReader;
  readBody: () => Promise<string | Answer>;
  /** A body a framework has parsed already. */
  parsed?: unknown;
}

type Admission = { answer: Answer } | { authInfo?: AuthInfo; body?: unknown };

/** What the transport guard looks up for each message: the sender an admission made. */
const admissions = new WeakMap<object, Admitted & { guard: KavachMcp; caller: McpCaller }>();

/** The guard each protected server answers to. */
const protectedBy = new WeakMap<Server, KavachMcp>();

/** callerOf returns who called, from a tool handler's extra.authInfo; undefined if the guard did not admit it. */
export function callerOf(authInfo: AuthInfo | undefined): McpCaller | undefined {
  const a = authInfo && admissions.get(authInfo);
  return a && { ...a.caller, scopes: [...a.caller.scopes] };
}

/** kavachMcp makes the guard of one MCP server. Keys are fetched on first use. */
export function kavachMcp(options: KavachMcpOptions): KavachMcp {
  return new KavachMcp(options);
}

export class KavachMcp {
  /** The canonical resource: the audience tokens must name. */
  readonly resource: string;
  readonly server: string;
  readonly scopes: readonly string[];
  /** The MCP endpoint's path. */
  readonly resourcePath: string;
  /** Where the metadata lives (RFC 9728 section 3.1), also served at the root well-known path. */
  readonly metadataPath: string;
  readonly metadataUrl: string;
  private readonly issuer?: string;
  private readonly asker: Asker;
  private readonly client?: KavachClient;
  private readonly verifier?: AccessTokenVerifier;
  private readonly ips: ClientIPResolver;
  private readonly doc?: string;
  private readonly jsonResponse: boolean;
  private readonly maxBodyBytes: number;
  private readonly resourceName?: string;

  constructor(opts: KavachMcpOptions) {
    const resource = canonicalResource(opts.resource);
    if (!opts.server || /[: *\t\n]/.test(opts.server)) {
      throw new Error(`kavach mcp: server "${opts.server}" must be one resource segment`);
    }
    if (!opts.issuer && !opts.agentTokens) throw new Error("kavach mcp: an issuer is required");
    if (!opts.kavach) throw new Error("kavach mcp: a Kavach client (or its url and apiKey) is required");
    const kavach = isAuthorizer(opts.kavach) ? opts.kavach : new KavachClient(opts.kavach);
    if (opts.agentTokens) {
      if (!(kavach instanceof KavachClient)) throw new Error("kavach mcp: agentTokens needs a KavachClient");
      this.client = kavach;
    }
    this.resource = resource;
    this.server = opts.server;
    this.scopes = [...(opts.scopes ?? ["mcp"])];
    this.issuer = opts.issuer || undefined;
    this.asker = { kavach, server: opts.server, onError: opts.onError ?? ((m, e) => console.error(m, e)) };
    this.ips = new ClientIPResolver(opts.trustedProxies);
    this.jsonResponse = opts.jsonResponse ?? false;
    this.maxBodyBytes = opts.maxBodyBytes ?? 4 << 20;
    this.resourceName = opts.resourceName || undefined;
    const u = new URL(resource);
    this.resourcePath = u.pathname;
    this.metadataPath = wellKnown + u.pathname.replace(/\/$/, "");
    this.metadataUrl = u.origin + this.metadataPath;
    if (this.issuer) {
      // The guard checks the scopes itself: a token without them is 403, not 401.
      this.verifier = createAccessTokenVerifier({
        issuer: this.issuer,
        resource,
        scopes: [],
        jwksUrl: opts.jwksUrl,
        leewaySeconds: opts.leewaySeconds,
      });
      this.doc = goJSON(this.metadata()).trimEnd();
    }
  }

  /** The protected resource metadata document (only with an issuer). */
  metadata(): ProtectedResourceMetadata {
    // Go's field order, so that both write the same bytes.
    const m: ProtectedResourceMetadata = {
      resource: this.resource,
      authorization_servers: this.issuer ? [this.issuer] : [],
      scopes_supported: this.scopes.length > 0 ? [...this.scopes] : undefined,
      bearer_methods_supported: ["header"],
      resource_name: this.resourceName,
    };
    return JSON.parse(JSON.stringify(m)) as ProtectedResourceMetadata;
  }

  /**
   * protect makes an MCP server answer tools/list with the tools the caller may call, and
   * refuse tools/call and tools/list that did not come through this guard. Call it before
   * connecting the server; it returns the server.
   */
  protect<T extends AnyMcpServer>(server: T): T {
    const low = lowLevel(server);
    const by = protectedBy.get(low);
    if (by === this) return server;
    if (by) throw new Error("kavach mcp: the MCP server is protected by another guard");
    if (low.transport) throw new Error("kavach mcp: protect the MCP server before connecting it");
    protectedBy.set(low, this);
    const connect = low.connect.bind(low);
    low.connect = (transport: Transport) => connect(guardTransport(transport, this.asker, (e) => this.admitted(e)));
    return server;
  }

  private admitted(extra: MessageExtraInfo | undefined) {
    const a = extra?.authInfo && admissions.get(extra.authInfo);
    return a && a.guard === this ? a : undefined;
  }

  /** isMetadataPath says whether a path is one of the metadata's. */
  isMetadataPath(path: string): boolean {
    return this.doc !== undefined && (path === this.metadataPath || path === wellKnown);
  }

  /** isResourcePath says whether a path is the MCP endpoint's. */
  isResourcePath(path: string): boolean {
    return path === this.resourcePath || this.resourcePath === "/";
  }

  /** metadataAnswer serves the metadata to anyone, with CORS for browser clients. */
  private metadataAnswer(method: string): Answer {
    const cors = { "Access-Control-Allow-Origin": "*" };
    switch (method) {
      case "GET":
      case "HEAD":
        return {
          status: 200,
          headers: { ...cors, "Content-Type": "application/json", "Cache-Control": "public, max-age=300" },
          body: method === "HEAD" ? "" : (this.doc ?? ""),
        };
      case "OPTIONS":
        return { status: 204, headers: { ...cors, "Access-Control-Allow-Methods": "GET" }, body: "" };
      default:
        return { ...textAnswer(405, "method not allowed"), headers: { ...cors, Allow: "GET", ...textHeaders } };
    }
  }

  /**
   * admit authenticates a request at the MCP endpoint and authorizes its tool calls. It
   * returns the answer to give instead of the MCP server's, or the AuthInfo (and parsed body)
   * to hand the transport.
   */
  private async admit(r: Incoming): Promise<Admission> {
    if (r.method === "OPTIONS") return {}; // CORS preflights carry no credentials
    const token = bearer(r.authorization);
    if (!token) return { answer: this.challenge(401, "", "") };
    let caller: McpCaller;
    try {
      caller = await this.authenticate(token, r);
    } catch (err) {
      if (err instanceof AccessTokenError) return { answer: this.challenge(401, "invalid_token", err.message) };
      this.asker.onError("kavach mcp: cannot verify tokens", err);
      const a = textAnswer(503, "tokens cannot be checked now: Kavach is unavailable");
      return { answer: { ...a, headers: { ...a.headers, "Retry-After": "5" } } };
    }
    // One challenge names every missing scope, so that one step-up asks for them all.
    const missing = this.scopes.filter((s) => !caller.scopes.includes(s));
    if (missing.length > 0) {
      const lacks = missing.length === 1 ? "scope " + missing[0] : "scopes " + missing.join(", ");
      return { answer: this.challenge(403, "insufficient_scope", "the token lacks " + lacks) };
    }
    const authInfo: AuthInfo = {
      token: "", // the bearer token goes no further than the guard
      clientId: caller.clientId ?? "",
      scopes: [...caller.scopes],
      expiresAt: caller.expiresAt,
      resource: new URL(this.resource),
      extra: { agentId: caller.agentId, subject: caller.subject, tenantId: caller.tenantId },
    };
    const who = { agentId: caller.agentId, context: callContext(caller) };
    const admitted = { guard: this, caller, who, allowed: new Set<string>() };
    admissions.set(authInfo, admitted);
    if (r.method !== "POST") return { authInfo };
    let body = r.parsed;
    if (body === undefined) {
      const text = await r.readBody();
      if (typeof text !== "string") return { answer: text };
      try {
        body = JSON.parse(text);
      } catch {
        return { answer: parseError };
      }
    }
    // Tool calls are decided in the caller's trace: a call's own params._meta, else the
    // request's traceparent header (when @opentelemetry/api is present).
    const verdict = await withIncomingTrace(r.header, () => authorizeCalls(this.asker, who, body));
    if (verdict.refusal !== undefined) {
      return {
        answer: {
          status: 200,
          headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
          body: verdict.refusal,
        },
      };
    }
    admitted.allowed = verdict.allowed;
    return { authInfo, body };
  }

  /** authenticate checks an agent token with Kavach, or verifies an access token. */
  private async authenticate(token: string, r: Incoming): Promise<McpCaller> {
    const seen = { ip: r.ip, userAgent: r.userAgent };
    if (this.client && token.startsWith(tokenPrefix)) {
      let a: { id?: string; ownerId?: string; tenantId?: string };
      try {
        a = await this.client.agents.validateToken(token);
      } catch (err) {
        if (err instanceof KavachError && (err.status === 401 || err.status === 400)) {
          throw new AccessTokenError(err.message);
        }
        throw new KavachUnavailableError("validating the agent token: " + String((err as Error)?.message ?? err), {
          cause: err,
        });
      }
      // The agent's permissions alone decide; its token stands in for the scopes.
      if (!a.id) throw new KavachUnavailableError("validating the agent token: Kavach named no agent");
      return { agentId: a.id, subject: a.ownerId ?? "", tenantId: a.tenantId, scopes: [...this.scopes], ...seen };
    }
    if (!this.verifier) throw new AccessTokenError("only Kavach agent tokens are accepted");
    const c = await this.verifier.verify(token);
    return {
      agentId: c.agentId,
      subject: c.subject,
      clientId: c.clientId,
      tenantId: c.tenantId,
      scopes: c.scopes,
      expiresAt: c.expiry || undefined,
      ...seen,
    };
  }

  /** challenge answers 401 or 403 with RFC 6750's WWW-Authenticate, pointing at the metadata. */
  private challenge(status: 401 | 403, code: string, description: string): Answer {
    const params = [`scope=${JSON.stringify(this.scopes.join(" "))}`];
    if (this.issuer) params.unshift(`resource_metadata=${JSON.stringify(this.metadataUrl)}`);
    if (code) {
      const quoted = JSON.stringify(description.replaceAll('"', "'"));
      params.push(`error=${JSON.stringify(code)}`, `error_description=${quoted}`);
    }
    // No credentials at all: RFC 6750 section 3.1 names no error.
    const body = code
      ? { error: code, error_description: description }
      : { error_description: "a bearer token is required" };
    return {
      status,
      headers: {
        "WWW-Authenticate": "Bearer " + params.join(", "),
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
      },
      body: goJSON(body),
    };
  }

  // ---- Node (node:http, Express, Connect) ----

  /** metadataMiddleware serves the metadata at its paths and passes anything else on (404 without next). */
  metadataMiddleware(): NodeHandler {
    return async (req, res, next) => {
      if (this.isMetadataPath(pathOf(req))) return write(res, this.metadataAnswer(req.method ?? "GET"));
      if (next) return next();
      write(res, textAnswer(404, "404 page not found"));
    };
  }

  /**
   * middleware guards an MCP endpoint in Express (or any Connect-style stack): it answers
   * refusals itself, and otherwise sets req.auth (an AuthInfo without the token) and req.body
   * (the parsed JSON-RPC body), removes the Authorization header, and calls next(). Hand both
   * to the transport: `transport.handleRequest(req, res, req.body)`, on a server passed
   * through protect().
   */
  middleware(): (req: NodeRequest, res: ServerResponse, next: NodeNext) => Promise<void> {
    return async (req, res, next) => {
      let a: Admission;
      try {
        a = await this.admit(this.incoming(req));
      } catch (err) {
        return next(err);
      }
      if ("answer" in a) return write(res, a.answer);
      if (a.authInfo) req.auth = a.authInfo;
      if (a.body !== undefined) req.body = a.body;
      stripAuthorization(req);
      next();
    };
  }

  /**
   * handler is the whole MCP endpoint for node:http or Express: the metadata, the guard, and
   * a fresh server from createServer on a stateless streamable HTTP transport for each POST
   * (GET and DELETE are 405: there are no sessions). Other paths go to next, or are 404.
   */
  handler(createServer: ServerFactory): NodeHandler {
    return async (req, res, next) => {
      const path = pathOf(req);
      if (this.isMetadataPath(path)) return write(res, this.metadataAnswer(req.method ?? "GET"));
      if (!this.isResourcePath(path)) {
        if (next) return next();
        return write(res, textAnswer(404, "404 page not found"));
      }
      try {
        const a = await this.admit(this.incoming(req));
        if ("answer" in a) return write(res, a.answer);
        if (req.method !== "POST") return write(res, methodNotAllowed);
        stripAuthorization(req);
        req.auth = a.authInfo;
        const server = this.protect(await createServer());
        const transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: undefined,
          enableJsonResponse: this.jsonResponse,
        });
        res.on("close", () => void server.close().catch(() => undefined));
        await server.connect(transport);
        await transport.handleRequest(req, res, a.body);
      } catch (err) {
        this.asker.onError("kavach mcp: handling an MCP request failed", err);
        if (!res.headersSent) write(res, internalServerError);
        else res.end();
      }
    };
  }

  private incoming(req: NodeRequest): Incoming {
    const parsed = req.body;
    const preParsed = parsed !== undefined && typeof parsed !== "string" && !Buffer.isBuffer(parsed);
    return {
      method: req.method ?? "GET",
      authorization: req.headers.authorization,
      ip: this.ips.resolve(req.socket?.remoteAddress, headerValues(req.headers["x-forwarded-for"])),
      userAgent: req.headers["user-agent"],
      header: nodeHeaders(req.headers),
      parsed: preParsed ? parsed : undefined,
      readBody: () =>
        typeof parsed === "string" || Buffer.isBuffer(parsed)
          ? Promise.resolve(limited(Buffer.from(parsed), this.maxBodyBytes))
          : readNodeBody(req, this.maxBodyBytes),
    };
  }

  // ---- Web (Request → Response: Hono, Bun, Deno, workers) ----

  /**
   * fetch is the whole MCP endpoint as a Web handler: the metadata, the guard and a fresh server
   * per POST on the SDK's web-standard transport. Pass the client's address in info, as the
   * runtime reports it; without it IP allowlists see no address.
   */
  fetch(createServer: ServerFactory): (request: Request, info?: { remoteAddress?: string }) => Promise<Response> {
    return async (request, info) => {
      const url = new URL(request.url);
      if (this.isMetadataPath(url.pathname)) return respond(this.metadataAnswer(request.method));
      if (!this.isResourcePath(url.pathname)) return respond(textAnswer(404, "404 page not found"));
      try {
        return await this.serveWeb(createServer, request, info?.remoteAddress);
      } catch (err) {
        this.asker.onError("kavach mcp: handling an MCP request failed", err);
        return respond(internalServerError);
      }
    };
  }

  private async serveWeb(createServer: ServerFactory, request: Request, remoteAddress?: string): Promise<Response> {
    const a = await this.admit({
      method: request.method,
      authorization: request.headers.get("authorization"),
      ip: this.ips.resolve(remoteAddress, headerValues(request.headers.get("x-forwarded-for"))),
      userAgent: request.headers.get("user-agent") ?? undefined,
      header: (name) => request.headers.get(name),
      readBody: () => readWebBody(request, this.maxBodyBytes),
    });
    if ("answer" in a) return respond(a.answer);
    if (request.method !== "POST") return respond(methodNotAllowed);
    const { WebStandardStreamableHTTPServerTransport } = await import(
      "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js"
    );
    const server = this.protect(await createServer());
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: this.jsonResponse,
    });
    await server.connect(transport);
    const headers = new Headers(request.headers);
    headers.delete("authorization");
    const stripped = new Request(request.url, { method: request.method, headers, signal: request.signal });
    const res = await transport.handleRequest(stripped, { authInfo: a.authInfo, parsedBody: a.body });
    const done = () => void server.close().catch(() => undefined);
    if (!res.body) {
      done();
      return res;
    }
    const body = res.body.pipeThrough(new TransformStream({ flush: done }));
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  }
}

function isAuthorizer(v: Authorizer | KavachClientOptions): v is Authorizer {
  return typeof (v as Authorizer).authorizeToken === "function";
}

/** lowLevel is the Server under an McpServer (or the Server itself). */
function lowLevel(s: AnyMcpServer): Server {
  const inner = (s as McpServer).server as Server | undefined;
  return inner && typeof inner.setRequestHandler === "function" ? inner : (s as Server);
}

function callContext(c: McpCaller) {
  const ctx: { ip?: string; userAgent?: string } = {};
  if (c.ip) ctx.ip = c.ip;
  if (c.userAgent) ctx.userAgent = c.userAgent;
  return ctx;
}
