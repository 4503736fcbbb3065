/**
 * Kavach for Fastify (4 and 5).
 *
 * ```ts
 * import Fastify from "fastify";
 * import { kavach } from "@kavach/sdk/fastify";
 * const app = Fastify();
 * await app.register(kavach({ kavach: { url: "http://127.0.0.1:8080", apiKey: process.env.KAVACH_API_KEY! } }));
 * app.get("/repos/:id", async (request) => ({ grant: request.kavach.grant }));
 * ```
 *
 * The plugin adds an onRequest hook to the context it is registered in and its children (it is
 * not encapsulated, like a fastify-plugin), so every route there is guarded before its body is
 * read. Fastify has routed the request by then: `/repos/:id` (`request.routeOptions.url`) is
 * `http:repos:{id}` with `id` as an argument; a request no route matches maps its path. The
 * decision is `request.kavach`; the handler never sees the Authorization header. The client's
 * address is the connection's peer, or the left-most X-Forwarded-For hop not written by one of
 * `trustedProxies`; Fastify's `trustProxy` and `request.ip` are not used.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { Guard, headerValues, withoutRawHeader, type GuardOptions } from "./guard.js";
import { colonPattern, rest } from "./mapping.js";
import { refusalBody, refusalHeaders } from "./refusal.js";
import type { Decision } from "./types.js";
import { nodeHeaders } from "./trace.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The decision that let the request through, set by @kavach/sdk/fastify. */
    kavach: Decision;
  }
}

/** kavach returns the plugin; pass a Guard to share one. */
export function kavach(options: GuardOptions | Guard): FastifyPluginAsync {
  const guard = options instanceof Guard ? options : new Guard(options);
  const hook = async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions?.url;
    const params = { ...(request.params as Record<string, string> | undefined) };
    if (params["*"] !== undefined && params[rest] === undefined) params[rest] = params["*"];
    const verdict = await guard.check({
      method: request.method,
      path: request.url.split("?")[0],
      route: route ? colonPattern(route) : undefined,
      params,
      authorization: request.headers.authorization,
      header: nodeHeaders(request.headers),
      remoteAddress: request.raw.socket?.remoteAddress,
      forwardedFor: headerValues(request.headers["x-forwarded-for"]),
      userAgent: request.headers["user-agent"],
      raw: request,
    });
    if (!verdict.allowed) {
      // A Buffer, so that Fastify adds no charset to the content type.
      const body = Buffer.from(refusalBody(verdict.refusal));
      return reply.code(verdict.refusal.status).headers(refusalHeaders(verdict.refusal)).send(body);
    }
    delete request.raw.headers.authorization;
    request.raw.rawHeaders = withoutRawHeader(request.raw.rawHeaders, "Authorization");
    request.kavach = verdict.decision;
  };
  const plugin: FastifyPluginAsync = async (fastify) => {
    if (!fastify.hasRequestDecorator("kavach")) fastify.decorateRequest("kavach", null as unknown as Decision);
    fastify.addHook("onRequest", hook);
  };
  // Not encapsulated: the hook guards the context the plugin is registered in.
  Object.assign(plugin, { [Symbol.for("skip-override")]: true, [Symbol.for("fastify.display-name")]: "@kavach/sdk/fastify" });
  return plugin;
}
