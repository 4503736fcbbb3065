import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { AccessTokenError, createAccessTokenVerifier } from "../src/accesstoken.js";
import { KavachUnavailableError } from "../src/errors.js";

// The verifier against a JWKS served on loopback by a key the test holds: the claims a
// Kavach access token carries, and what each broken one is told.
const issuer = "http://127.0.0.1/oauth";
const resource = "https://api.example.com/mcp";
let key: CryptoKey;
let srv: Server;
let jwksUrl = "";

before(async () => {
  const pair = await generateKeyPair("ES256");
  key = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  srv = createServer((_, res) => {
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  jwksUrl = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/jwks`;
});
after(() => srv.close());

function token(claims: Record<string, unknown>, exp = "5m"): Promise<string> {
  const { aud = resource, ...rest } = claims;
  return new SignJWT({ agent_id: "agt_1", scope: "mcp", ...rest })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setIssuer(issuer)
    .setAudience(aud as string)
    .setSubject("user_1")
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(key);
}

test("a Kavach access token is accepted with its claims; broken ones are told why", async () => {
  const v = createAccessTokenVerifier({ issuer, resource, jwksUrl, scopes: ["mcp", "repos"] });
  const ok = await v.verify(await token({ scope: "mcp repos" }));
  assert.equal(ok.agentId, "agt_1");
  assert.deepEqual(ok.scopes, ["mcp", "repos"]);
  const cases: [Record<string, unknown>, string][] = [
    [{ scope: "other" }, "the token lacks scopes mcp, repos"],
    [{ scope: "mcp" }, "the token lacks scope repos"],
    [{ scope: "mcp repos", agent_id: undefined }, "the token names no Kavach agent"],
    [{ scope: "mcp repos", aud: "https://other.example.com/mcp" }, "the token was issued for another resource"],
    [{ scope: "mcp repos", cnf: { jkt: "abc" } }, "the token is bound to a DPoP key: its proof must be checked with the request"],
  ];
  for (const [claims, want] of cases) {
    await assert.rejects(v.verify(await token(claims)), (e: unknown) => e instanceof AccessTokenError && e.message === want);
  }
  await assert.rejects(v.verify(await token({ scope: "mcp repos" }, "-2m")), /the token has expired/);
  await assert.rejects(v.verify("not-a-jwt"), /not a JWT signed with an accepted algorithm/);
});

test("keys that cannot be fetched are an outage, not a bad token", async () => {
  const v = createAccessTokenVerifier({ issuer, resource, jwksUrl: "http://127.0.0.1:9/jwks" });
  await assert.rejects(v.verify(await token({})), (e: unknown) => e instanceof KavachUnavailableError);
});
