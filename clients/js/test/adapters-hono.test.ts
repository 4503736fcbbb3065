import { serve } from "@hono/node-server";
import { Hono, type Context } from "hono";
import type { AddressInfo } from "node:net";
import { kavach, type KavachEnv } from "../src/hono.js";
import { adapterSuite, type SuiteEnv, type TestApp } from "./adapter-suite.js";

/** The suite's app: the middleware app-wide, the decision read with c.get. */
function start(env: SuiteEnv): Promise<TestApp> {
  const app = new Hono<KavachEnv>();
  app.use(
    kavach({
      kavach: { url: env.kavachUrl, apiKey: env.appKey },
      trustedProxies: env.trustedProxies,
      accessTokens: { issuer: env.issuer, resource: env.resource },
    }),
  );
  const answer = (c: Context<KavachEnv>) => {
    const d = c.get("kavach");
    return c.json({ code: d.code, grant: d.grant, auditId: d.auditId, sawAuthorization: c.req.header("Authorization") !== undefined });
  };
  app.get("/repos/:id", answer);
  app.post("/repos/:id/merge", answer);
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info: AddressInfo) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

adapterSuite("Hono", start);
