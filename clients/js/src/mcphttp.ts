/**
 * The HTTP pieces of @kavach/sdk/mcp: the answers the guard gives itself (as Go's net/http and
 * the MCP SDK word them), and request bodies read within a limit, from Node and from the Web.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { withoutRawHeader } from "./guard.js";

/** An answer the guard gives itself. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export const textHeaders = { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" };

/** textAnswer is what Go's http.Error writes. */
export function textAnswer(status: number, msg: string): Answer {
  return { status, headers: { ...textHeaders }, body: msg + "\n" };
}

export function jsonRPCAnswer(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): Answer {
  return {
    status,
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }),
  };
}

// The MCP SDK's own answers to these.
export const parseError = jsonRPCAnswer(400, -32700, "Parse error: Invalid JSON");
export const methodNotAllowed = jsonRPCAnswer(405, -32000, "Method not allowed.", { Allow: "POST" });
export const internalServerError = jsonRPCAnswer(500, -32603, "Internal server error");

export function write(res: ServerResponse, a: Answer): void {
  res.writeHead(a.status, a.headers);
  res.end(a.body);
}

export function respond(a: Answer): Response {
  const nobody = a.status === 204 || a.body === "";
  return new Response(nobody ? null : a.body, { status: a.status, headers: a.headers });
}

export function pathOf(req: IncomingMessage & { originalUrl?: string }): string {
  try {
    return new URL(req.originalUrl ?? req.url ?? "/", "http://localhost").pathname;
  } catch {
    return "";
  }
}

/** stripAuthorization removes the bearer token from the request the MCP SDK will read. */
export function stripAuthorization(req: IncomingMessage): void {
  delete req.headers.authorization;
  req.rawHeaders = withoutRawHeader(req.rawHeaders, "Authorization");
}

export function limited(b: Buffer, max: number): string | Answer {
  return b.length > max ? textAnswer(413, "the request body is too large") : b.toString("utf8");
}

export async function readNodeBody(req: IncomingMessage, max: number): Promise<string | Answer> {
  if (req.readableEnded) return "";
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of req) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      n += b.length;
      if (n > max) return textAnswer(413, "the request body is too large");
      chunks.push(b);
    }
  } catch {
    return textAnswer(400, "reading the request failed");
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function readWebBody(request: Request, max: number): Promise<string | Answer> {
  if (!request.body) return "";
  const reader = request.body.getReader();
  const text = new TextDecoder();
  let out = "";
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.length;
      if (n > max) {
        await reader.cancel().catch(() => undefined);
        return textAnswer(413, "the request body is too large");
      }
      out += text.decode(value, { stream: true });
    }
  } catch {
    return textAnswer(400, "reading the request failed");
  }
  return out + text.decode();
}
