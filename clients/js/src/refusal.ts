/**
 * Refusals: what an adapter answers when a request may not proceed. The documents, statuses
 * and headers are exactly those of the Go adapters (adapters/nethttp), byte for byte, so a
 * client sees one Kavach whatever the server behind it is written in.
 */
import type { Decision } from "./types.js";

export const problemContentType = "application/problem+json";
const problemTypePrefix = "urn:kavach:problem:";

/** The problem+json body of a refusal: `reason` is the decision code. */
export interface RefusalProblem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  field?: string;
  reason?: string;
  auditId?: string;
  approvalId?: string;
  retryAfter?: string;
}

/** A request's answer when it may not proceed. */
export interface Refusal {
  status: number;
  problem: RefusalProblem;
  /** The WWW-Authenticate value of a 401. */
  challenge?: string;
  /** Whole seconds for the Retry-After header, when positive. */
  retryAfterSeconds?: number;
}

const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  503: "Service Unavailable",
};

function refusal(status: number, code: string, reason: string, detail: string): Refusal {
  return {
    status,
    problem: { type: problemTypePrefix + code, title: titles[status] ?? "", status, detail, code, reason },
  };
}

/** A 401 with a Bearer challenge; reason is empty when no credential came at all. */
export function unauthenticated(reason: string, detail: string): Refusal {
  const r = refusal(401, "unauthenticated", reason, detail);
  r.challenge = 'Bearer realm="kavach"' + (reason ? ', error="invalid_token"' : "");
  return r;
}

/** The 503 of a decision that could not be made: Kavach unreachable, or ENGINE_ERROR. */
export function unavailable(): Refusal {
  const r = refusal(503, "internal", "ENGINE_ERROR", "the authorization service failed");
  r.retryAfterSeconds = 5;
  return r;
}

/** The 400 of a request that cannot be turned into a call to authorize. */
export function unmappable(detail: string): Refusal {
  return refusal(400, "invalid_input", "", "the request cannot be authorized: " + detail);
}

/**
 * The answer to a denial: 401 when the agent itself is not accepted (unknown, revoked or
 * expired, or a bad token), 503 when Kavach could not decide, 403 otherwise.
 */
export function denied(d: Decision): Refusal {
  let r: Refusal;
  switch (d.code) {
    case "TOKEN_INVALID":
    case "AGENT_NOT_FOUND":
    case "AGENT_REVOKED":
    case "AGENT_EXPIRED":
      r = unauthenticated(d.code, d.reason);
      break;
    case "ENGINE_ERROR":
      r = unavailable();
      r.problem.detail = d.reason;
      break;
    default:
      r = refusal(403, "forbidden", d.code, d.reason);
  }
  r.problem.auditId = d.auditId;
  r.problem.approvalId = d.approvalId;
  const ns = d.retryAfter ? parseDuration(d.retryAfter) : 0;
  if (ns > 0) {
    r.problem.retryAfter = d.retryAfter;
    r.retryAfterSeconds = Math.ceil(ns / 1e9);
  }
  return r;
}

/** The response headers of a refusal. */
export function refusalHeaders(r: Refusal): Record<string, string> {
  const h: Record<string, string> = { "Content-Type": problemContentType, "Cache-Control": "no-store" };
  if (r.challenge) h["WWW-Authenticate"] = r.challenge;
  if (r.retryAfterSeconds && r.retryAfterSeconds > 0) h["Retry-After"] = String(r.retryAfterSeconds);
  return h;
}

/** The response body of a refusal, encoded exactly as Go's encoding/json encodes it. */
export function refusalBody(r: Refusal): string {
  const p = r.problem;
  // The Go struct's field order; empty optional strings are omitted (omitempty).
  const doc: Record<string, string | number> = { type: p.type, title: p.title, status: p.status };
  if (p.detail) doc.detail = p.detail;
  doc.code = p.code;
  for (const k of ["field", "reason", "auditId", "approvalId", "retryAfter"] as const) {
    if (p[k]) doc[k] = p[k];
  }
  return goJSON(doc);
}

/** The refusal as a Web Response, for frameworks built on the Fetch API. */
export function refusalResponse(r: Refusal): Response {
  return new Response(refusalBody(r), { status: r.status, headers: refusalHeaders(r) });
}

/**
 * goJSON encodes v as Go's json.Encoder does: HTML-sensitive characters and the JavaScript
 * line terminators escaped, and a trailing newline.
 */
export function goJSON(v: unknown): string {
  return (
    JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")) +
    "\n"
  );
}

const units: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** parseDuration reads a Go duration string ("1m30s", "1.5s", "250ms") into nanoseconds; 0 if malformed. */
export function parseDuration(s: string): number {
  const m = /^([0-9.]+)(ns|us|µs|μs|ms|s|m|h)/;
  let rest = s.startsWith("+") ? s.slice(1) : s;
  if (rest === "0") return 0;
  let total = 0;
  while (rest.length > 0) {
    const g = m.exec(rest);
    if (!g) return 0;
    const n = Number(g[1]);
    if (!Number.isFinite(n)) return 0;
    total += n * units[g[2]];
    rest = rest.slice(g[0].length);
  }
  return total;
}
