// A minimal Express API guarded by Kavach: every request to a guarded route carries an agent's
// token (Authorization: Bearer kv_…), and Kavach decides. GET /repos/:id is authorized as
// "get" on http:repos:{id} with the argument id; POST /repos/:id/merge as "post" on
// http:repos:{id}:merge. A refusal is answered by the middleware (401, 403, 400 or 503,
// application/problem+json); an allowed request reaches the handler with the decision in
// res.locals.kavach, and without its Authorization header.
import express from "express";
import { kavach } from "@kavach/sdk/express";

const { KAVACH_URL, KAVACH_API_KEY } = process.env;
if (!KAVACH_URL || !KAVACH_API_KEY) {
  console.error("set KAVACH_URL (e.g. http://127.0.0.1:8080) and KAVACH_API_KEY (an app key, kva_…)");
  process.exit(2);
}
const port = Number(process.env.PORT ?? 3000);

const guard = kavach({ kavach: { url: KAVACH_URL, apiKey: KAVACH_API_KEY } });
const app = express();

app.get("/healthz", (_req, res) => res.send("ok\n"));

app.get("/repos/:id", guard, (req, res) => {
  const d = res.locals.kavach;
  res.json({ repo: req.params.id, allowedBy: d.grant, auditId: d.auditId });
});

app.post("/repos/:id/merge", guard, (req, res) => {
  res.json({ repo: req.params.id, merged: true, auditId: res.locals.kavach.auditId });
});

app.listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}`));
