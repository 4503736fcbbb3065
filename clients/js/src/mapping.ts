/**
 * How a request becomes a call to authorize, as the Go adapters map it: the method in lower
 * case on a resource made of the route pattern under "http" (GET /repos/{id} is `get` on
 * `http:repos:{id}`), with the route's parameters as the call's arguments, so argument
 * patterns apply to them. Without a route the request's path is used (/repos/42 is
 * http:repos:42).
 */
import type { AuthorizeCall } from "./types.js";

/** The prefix of the resources the default mapping names. */
export const defaultPrefix = "http";

/** Names an unnamed trailing wildcard ("*") in resources and arguments. */
export const rest = "rest";

/** The action an HTTP method is authorized as: the method in lower case. */
export function methodAction(method: string): string {
  return method.toLowerCase();
}

/**
 * routeResource turns a route pattern in `{name}` syntax, or a path, into a resource under
 * prefix: a method and host in front are dropped, each non-empty path segment becomes a
 * resource segment, and a wildcard's regular expression ("{id:[0-9]+}") is dropped. The root
 * path is the prefix alone.
 */
export function routeResource(prefix: string, pattern: string): string {
  let path = pattern;
  const sp = pattern.indexOf(" ");
  if (sp >= 0) path = pattern.slice(sp + 1).trim();
  const slash = path.indexOf("/");
  if (slash > 0) path = path.slice(slash);
  const segs = [prefix];
  for (let s of path.split("/")) {
    if (s === "") continue;
    const name = wildcard(s);
    if (name !== undefined) s = `{${name}}`;
    segs.push(s);
  }
  return segs.join(":");
}

/** The wildcard names of a route pattern ("{id}", "{path...}", "{id:[0-9]+}"); "{$}" is not one. */
export function wildcards(pattern: string): string[] {
  const names: string[] = [];
  for (const s of pattern.split("/")) {
    const name = wildcard(s);
    if (name !== undefined && name !== "$") names.push(name);
  }
  return names;
}

function wildcard(seg: string): string | undefined {
  if (seg.length < 3 || seg[0] !== "{" || seg[seg.length - 1] !== "}") return undefined;
  const name = seg.slice(1, -1).split(":")[0];
  return name.endsWith("...") ? name.slice(0, -3) : name;
}

/**
 * colonPattern rewrites a route in the `:name` syntax of Express, Hono, Fastify and h3 into
 * `{name}` syntax: ":id" is "{id}", "*path" is "{path}", a bare "*" is "{rest}", and an
 * optional ":id?" or a constrained ":id{[0-9]+}" / ":id(\\d+)" is "{id}".
 */
export function colonPattern(route: string): string {
  return route
    .split("/")
    .map((s) => {
      if (s.startsWith(":") && s.length > 1) {
        const name = /^:([A-Za-z0-9_$-]+)/.exec(s)?.[1];
        return name ? `{${name}}` : s;
      }
      if (s === "*" || s === "**") return `{${rest}}`;
      if (s.startsWith("**:")) return `{${s.slice(3)}}`;
      if (s.startsWith("*")) return `{${s.slice(1)}}`;
      return s;
    })
    .join("/");
}

/**
 * bracketPattern rewrites a file-system route of Next.js, Nuxt, SvelteKit and Astro into
 * `{name}` syntax: "[id]" is "{id}", "[...slug]" and "[[...slug]]" are "{slug}", "[[lang]]"
 * is "{lang}", a SvelteKit matcher ("[id=integer]") is dropped, and route groups ("(admin)")
 * and Next.js's parallel-route slots ("@modal") are not part of the path.
 */
export function bracketPattern(route: string): string {
  return route
    .split("/")
    .filter((s) => !(/^\(.*\)$/.test(s) || s.startsWith("@")))
    .map((s) => {
      const m = /^\[{1,2}(?:\.\.\.)?([^\]=]+)(?:=[^\]]*)?\]{1,2}$/.exec(s);
      return m ? `{${m[1]}}` : s;
    })
    .join("/");
}

/** What the default mapping needs to know of a request. */
export interface RouteFacts {
  method: string;
  /** The request's path, used when no route is known. */
  path: string;
  /** The matched route in `{name}` syntax, when the framework knows it. */
  route?: string;
  /** The route's parameter values by name. */
  params?: Record<string, string | string[] | undefined>;
}

/**
 * patternCall authorizes a request as its method on the resource named by its route (or
 * its path), with the route's wildcards' values as the call's arguments. A catch-all's
 * segments are joined with "/".
 */
export function patternCall(prefix: string, r: RouteFacts): AuthorizeCall {
  const call: AuthorizeCall = { action: methodAction(r.method), resource: "" };
  if (!r.route) {
    call.resource = routeResource(prefix, r.path);
    return call;
  }
  call.resource = routeResource(prefix, r.route);
  for (const name of wildcards(r.route)) {
    const v = r.params?.[name];
    (call.arguments ??= {})[name] = Array.isArray(v) ? v.join("/") : (v ?? "");
  }
  return call;
}
