/**
 * Kavach for Express (4 and 5).
 *
 * ```ts
 * import express from "express";
 * import { kavach } from "@kavach/sdk/express";
 * const guard = kavach({ kavach: { url: "http://127.0.0.1:8080", apiKey: process.env.KAVACH_API_KEY! } });
 * const app = express();
 * app.get("/repos/:id", guard, (req, res) => res.json({ grant: res.locals.kavach.grant }));
 * ```
 *
 * Express knows the route (`req.route.path`) only once it has routed the request, so use the
 * middleware with each route, as above: `/repos/:id` is `http:repos:{id}` with `id` as an
 * argument. With `app.use(guard)` it maps the request's path instead (`/repos/42` is
 * `http:repos:42`). The decision is in `res.locals.kavach` and `req.kavach`; the handler never
 * sees the Authorization header. The client's address is the connection's peer, or the
 * left-most X-Forwarded-For hop not written by one of `trustedProxies`; Express's own
 * `trust proxy` setting and `req.ip` are not used.
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { Guard, headerValues, withoutRawHeader, type GuardOptions } from "./guard.js";
import { colonPattern } from "./mapping.js";
import { refusalBody, refusalHeaders } from "./refusal.js";
import type { Decision } from "./types.js";
import { nodeHeaders } from "./trace.js";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The decision that let the request through, set by @kavach/sdk/express. */
      kavach?: Decision;
    }
    interface Locals {
      /** The decision that let the request through, set by @kavach/sdk/express. */
      kavach: Decision;
    }
  }
}

/** kavach returns the middleware; pass a Guard to share one. */
export function kavach(options: GuardOptions | Guard): RequestHandler {
  const guard = options instanceof Guard ? options : new Guard(options);
  return (req: Request, res: Response, next: NextFunction) => {
    const route: unknown = req.route?.path;
    guard
      .check({
        method: req.method,
        path: req.baseUrl + req.path,
        route: typeof route === "string" ? colonPattern(req.baseUrl + route) : undefined,
        params: req.params,
        authorization: req.headers.authorization,
        header: nodeHeaders(req.headers),
        remoteAddress: req.socket.remoteAddress,
        forwardedFor: headerValues(req.headers["x-forwarded-for"]),
        userAgent: req.headers["user-agent"],
        raw: req,
      })
      .then((verdict) => {
        if (!verdict.allowed) {
          res.statusCode = verdict.refusal.status;
          for (const [k, v] of Object.entries(refusalHeaders(verdict.refusal))) res.setHeader(k, v);
          res.end(refusalBody(verdict.refusal));
          return;
        }
        delete req.headers.authorization;
        req.rawHeaders = withoutRawHeader(req.rawHeaders, "Authorization");
        req.kavach = verdict.decision;
        res.locals.kavach = verdict.decision;
        next();
      }, next);
  };
}
