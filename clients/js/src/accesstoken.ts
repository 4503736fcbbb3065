/**
 * Kavach OAuth access tokens, verified locally: the signature against the authorization
 * server's JWKS (an asymmetric algorithm only), the issuer exactly, the audience = this
 * resource, the expiry (with leeway), the required scopes, and that the token names a Kavach
 * agent. The same checks as Go's mcpauth.
 */
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { KavachUnavailableError } from "./errors.js";

export interface AccessTokenOptions {
  /** The Kavach authorization server's issuer, exactly. */
  issuer: string;
  /** This API's or MCP server's canonical URI: the audience its tokens must name. */
  resource: string;
  /** Where the signing keys are; by default discovered from the issuer's RFC 8414 metadata. */
  jwksUrl?: string;
  /** Scopes every token must carry (default ["mcp"]). */
  scopes?: string[];
  /** Tolerated clock skew on exp and nbf, in seconds (default 30). */
  leewaySeconds?: number;
  /** The fetch used for metadata and keys (default globalThis.fetch). */
  fetch?: typeof fetch;
}

/** What a verified access token says. */
export interface AccessTokenClaims {
  /** The Kavach agent that acts. */
  agentId: string;
  /** The user the agent acts for. */
  subject: string;
  clientId?: string;
  tenantId?: string;
  scopes: string[];
  audience: string[];
  /** Expiry, in seconds since the epoch. */
  expiry: number;
  id?: string;
}

/** A token that is not accepted; its message says why. */
export class AccessTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AccessTokenError";
  }
}

/** Checks bearer tokens that are not kv_ agent tokens. */
export interface AccessTokenVerifier {
  /** Resolves with the claims, or rejects with AccessTokenError (401) or KavachUnavailableError (503). */
  verify(token: string): Promise<AccessTokenClaims>;
  /** The scopes a token must carry. */
  readonly scopes: readonly string[];
}

const algorithms = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"];

/** canonicalResource lowers a URI's scheme and host, as audiences are compared. */
export function canonicalResource(uri: string): string {
  const u = new URL(uri);
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.host === "" || u.hash !== "") {
    throw new Error(`resource "${uri}" must be an absolute http(s) URI without fragment`);
  }
  return u.href.endsWith("/") && !uri.endsWith("/") ? u.href.slice(0, -1) : u.href;
}

/** createAccessTokenVerifier checks tokens as Go's mcpauth.Guard.VerifyAccessToken does. */
export function createAccessTokenVerifier(opts: AccessTokenOptions): AccessTokenVerifier {
  if (!opts.issuer) throw new Error("kavach: an issuer is required to accept access tokens");
  const resource = canonicalResource(opts.resource);
  const scopes = opts.scopes ?? ["mcp"];
  const leeway = opts.leewaySeconds ?? 30;
  const doFetch = opts.fetch ?? globalThis.fetch;
  let keys: ReturnType<typeof createRemoteJWKSet> | undefined;
  let discovering: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  const keySet = (): Promise<ReturnType<typeof createRemoteJWKSet>> => {
    if (keys) return Promise.resolve(keys);
    discovering ??= (async () => {
      const url = opts.jwksUrl ?? (await discoverJWKS(opts.issuer, doFetch));
      keys = createRemoteJWKSet(new URL(url), {
        cooldownDuration: 10_000,
        cacheMaxAge: 3_600_000,
        [customFetch]: (u: string, o: RequestInit) => doFetch(u, o),
      });
      return keys;
    })().catch((err: unknown) => {
      discovering = undefined;
      throw new KavachUnavailableError("fetching the signing keys: " + String((err as Error)?.message ?? err), {
        cause: err,
      });
    });
    return discovering;
  };

  return {
    scopes,
    async verify(token: string): Promise<AccessTokenClaims> {
      const jwks = await keySet();
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, jwks, {
          issuer: opts.issuer,
          algorithms,
          clockTolerance: leeway,
          requiredClaims: ["exp"],
        }));
      } catch (err) {
        throw explain(err);
      }
      const aud = typeof payload.aud === "string" ? [payload.aud] : (payload.aud ?? []);
      if (!aud.some((a) => sameResource(a, resource))) {
        throw new AccessTokenError("the token was issued for another resource");
      }
      const cnf = payload.cnf as { jkt?: unknown } | undefined;
      if (cnf && typeof cnf === "object" && cnf.jkt !== undefined) {
        // A DPoP-bound token (RFC 9449) is only good with a proof of its key, which this
        // verifier does not check: refused, as Go's VerifyAccessToken refuses it.
        throw new AccessTokenError("the token is bound to a DPoP key: its proof must be checked with the request");
      }
      const agentId = typeof payload.agent_id === "string" ? payload.agent_id : "";
      if (agentId === "") throw new AccessTokenError("the token names no Kavach agent");
      const granted = typeof payload.scope === "string" ? payload.scope.split(/\s+/).filter(Boolean) : [];
      const missing = scopes.filter((s) => !granted.includes(s));
      if (missing.length > 0) {
        // Worded as Go's mcpauth words it, so the refusals are the same.
        throw new AccessTokenError(`the token lacks scope${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
      }
      return {
        agentId,
        subject: payload.sub ?? "",
        clientId: typeof payload.client_id === "string" ? payload.client_id : undefined,
        tenantId: typeof payload.tenant_id === "string" ? payload.tenant_id : undefined,
        scopes: granted,
        audience: aud,
        expiry: payload.exp ?? 0,
        id: payload.jti,
      };
    },
  };
}

function sameResource(aud: string, resource: string): boolean {
  try {
    return canonicalResource(aud) === resource;
  } catch {
    return false;
  }
}

/** explain turns a jose failure into the reason a client is told, or an outage. */
function explain(err: unknown): Error {
  if (err instanceof joseErrors.JWTExpired) return new AccessTokenError("the token has expired");
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case "iss":
        return new AccessTokenError("the token was issued by another authorization server");
      case "nbf":
        return new AccessTokenError("the token is not valid yet");
      case "exp":
        return new AccessTokenError("the token has no expiry");
      default:
        return new AccessTokenError(`the token's ${err.claim} claim is not valid`);
    }
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new AccessTokenError("the token's signature is not valid");
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new AccessTokenError("no signing key of the authorization server matches the token");
  }
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || err instanceof TypeError) {
    return new KavachUnavailableError("fetching the signing keys: " + (err as Error).message, { cause: err });
  }
  if (err instanceof joseErrors.JOSEError) {
    return new AccessTokenError("the token is not a JWT signed with an accepted algorithm");
  }
  return new KavachUnavailableError("verifying the token failed: " + String(err), { cause: err });
}

/** discoverJWKS reads jwks_uri from the issuer's RFC 8414 metadata or OpenID configuration. */
async function discoverJWKS(issuer: string, doFetch: typeof fetch): Promise<string> {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/$/, "");
  const candidates = [
    `${u.origin}/.well-known/oauth-authorization-server${path}`,
    `${u.origin}/.well-known/openid-configuration${path}`,
    `${u.origin}${path}/.well-known/openid-configuration`,
  ];
  let last: unknown;
  for (const c of candidates) {
    try {
      const res = await doFetch(c, { headers: { Accept: "application/json" }, signal: AbortSignal.timeout(10_000) });
      if (!res.ok) {
        last = new Error(`${c}: HTTP ${res.status}`);
        continue;
      }
      const doc = (await res.json()) as { issuer?: string; jwks_uri?: string };
      if (doc.jwks_uri) return doc.jwks_uri;
      last = new Error(`${c}: no jwks_uri`);
    } catch (err) {
      last = err;
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}
