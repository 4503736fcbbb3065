/**
 * The MCP SDK's OAuth client, run headless against Kavach's dev login with auto-approve: the
 * provider plays the browser by following the authorization server's redirects until they
 * reach the client's redirect URI, and keeps the code it carries.
 */
import { UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";

export class HeadlessProvider implements OAuthClientProvider {
  /** The authorization code the last redirect carried. */
  code?: string;
  /** Whether the client registered itself (RFC 7591). */
  registered = false;
  private info?: OAuthClientInformationMixed;
  private saved?: OAuthTokens;
  private verifier = "";

  constructor(
    private readonly redirect: string,
    private readonly name: string,
  ) {}

  get redirectUrl(): string {
    return this.redirect;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.name,
      redirect_uris: [this.redirect],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  get clientId(): string | undefined {
    return this.info?.client_id;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.info;
  }

  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.registered = true;
    this.info = info;
  }

  tokens(): OAuthTokens | undefined {
    return this.saved;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens;
  }

  saveCodeVerifier(v: string): void {
    this.verifier = v;
  }

  codeVerifier(): string {
    return this.verifier;
  }

  async redirectToAuthorization(url: URL): Promise<void> {
    this.code = await followToCode(url, this.redirect);
  }
}

/** followToCode follows redirects (keeping cookies) until one goes to the client, and returns its code. */
async function followToCode(start: URL, redirect: string): Promise<string> {
  let url = start;
  const cookies = new Map<string, string>();
  for (let hop = 0; hop < 10; hop++) {
    const r = await fetch(url, {
      redirect: "manual",
      headers: { Cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair.indexOf("=");
      cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const loc = r.headers.get("location");
    if (r.status < 300 || r.status >= 400 || !loc) {
      throw new Error(`the authorization server answered ${r.status} without redirecting: ${await r.text()}`);
    }
    const next = new URL(loc, url);
    if (next.href.startsWith(redirect)) {
      const err = next.searchParams.get("error");
      if (err) throw new Error(`authorization refused: ${err} ${next.searchParams.get("error_description") ?? ""}`);
      return next.searchParams.get("code") ?? "";
    }
    url = next;
  }
  throw new Error("too many redirects");
}

/**
 * connectWithOAuth connects the SDK's client to an MCP server: the first attempt meets the 401
 * and runs the authorization, the transport redeems the code, and a second attempt connects.
 */
export async function connectWithOAuth(server: string, provider: HeadlessProvider): Promise<Client> {
  const first = new StreamableHTTPClientTransport(new URL(server), { authProvider: provider });
  try {
    const c = new Client({ name: "kavach-test", version: "1.0.0" });
    await c.connect(first);
    return c; // already authorized
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  if (!provider.code) throw new Error("no authorization code came back");
  await first.finishAuth(provider.code);
  const c = new Client({ name: "kavach-test", version: "1.0.0" });
  await c.connect(new StreamableHTTPClientTransport(new URL(server), { authProvider: provider }));
  return c;
}

/** tokenClaims decodes (without verifying) the provider's access token. */
export function tokenClaims(p: HeadlessProvider): Record<string, unknown> {
  const token = p.tokens()?.access_token ?? "";
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;
}
