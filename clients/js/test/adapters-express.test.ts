import express, { type Request, type Response } from "express";
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { kavach } from "../src/express.js";
import { adapterSuite, recordingAuthorizer, type SuiteEnv, type TestApp } from "./adapter-suite.js";

/** The suite's app: the middleware with each route (Express knows the route only after routing). */
function start(env: SuiteEnv): Promise<TestApp> {
  const guard = kavach({
    kavach: { url: env.kavachUrl, apiKey: env.appKey },
    trustedProxies: env.trustedProxies,
    accessTokens: { issuer: env.issuer, resource: env.resource },
  });
  const answer = (req: Request, res: Response) => {
    const d = res.locals.kavach;
    if (req.kavach !== d) throw new Error("req.kavach and res.locals.kavach differ");
    res.json({ code: d.code, grant: d.grant, auditId: d.auditId, sawAuthorization: req.get("Authorization") !== undefined });
  };
  const app = express();
  app.get("/repos/:id", guard, answer);
  app.post("/repos/:id/merge", guard, answer);
  return new Promise((resolve) => {
    const server = app.listen(0, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

adapterSuite("Express", start);

describe("Express mapping", () => {
  test("with each route the middleware maps the route, a router's mount path included; app-wide it maps the path", async () => {
    const rec = recordingAuthorizer();
    const guard = kavach({ kavach: rec });
    const app = express();
    app.get("/repos/:id", guard, (_req, res) => void res.send(res.locals.kavach.grant));
    const api = express.Router();
    api.get("/orgs/:org/files/*path", guard, (_req, res) => void res.send("ok"));
    app.use("/api", api);
    const wide = express.Router();
    wide.use(guard);
    wide.get("/items/:id", (_req, res) => void res.send("ok"));
    app.use("/wide", wide);
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const get = (path: string) => fetch(base + path, { headers: { Authorization: "Bearer kv_test" } });
      assert.equal(await (await get("/repos/42")).text(), "perm_test");
      assert.equal((await get("/api/orgs/acme/files/a/b.txt")).status, 200);
      assert.equal((await get("/wide/items/9")).status, 200);
      assert.deepEqual(
        rec.calls.map((c) => c.call),
        [
          { action: "get", resource: "http:repos:{id}", arguments: { id: "42" } },
          { action: "get", resource: "http:api:orgs:{org}:files:{path}", arguments: { org: "acme", path: "a/b.txt" } },
          { action: "get", resource: "http:wide:items:9" },
        ],
      );
      assert.equal(rec.calls[0].context?.ip, "127.0.0.1");
    } finally {
      server.close();
    }
  });
});
