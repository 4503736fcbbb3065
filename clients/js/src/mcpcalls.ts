/**
 * The JSON-RPC side of @kavach/sdk/mcp: tool calls authorized before the MCP server sees
 * them, refusals shaped as Go's mcpauth writes them, and tools/list answers narrowed by dry
 * runs inside the SDK, on the result object, before the transport frames it as JSON or as an
 * event stream.
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import type { Authorizer } from "./client.js";
import { KavachError } from "./errors.js";
import { goJSON } from "./refusal.js";
import type { AuthorizeCall, CallContext, DecisionCode } from "./types.js";
import { withMetaTrace } from "./trace.js";

/**
 * The JSON-RPC error code of a tool call Kavach refused. It lies outside JSON-RPC's reserved
 * range (-32768 to -32000), as an application's own errors must.
 */
export const deniedCode = -31403;

/** What a tool call is authorized as. */
export const toolAction = "call";

const invalidParams = -32602;
const internalError = -32603;

/** The data of a deniedCode error: Kavach's decision. */
export interface DeniedData {
  code: DecisionCode;
  reason: string;
  auditId?: string;
  approvalId?: string;
  retryAfter?: string;
}

/**
 * The dry-run answers that keep a tool listed: the agent may call it, or could with other
 * arguments, a human's approval, or after waiting. Any other code hides it.
 */
export const listable: ReadonlySet<DecisionCode> = new Set<DecisionCode>([
  "ALLOWED",
  "ARGUMENT_NOT_ALLOWED",
  "APPROVAL_REQUIRED",
  "APPROVAL_DENIED",
  "RATE_LIMITED",
]);

/** Whom to ask about which server. */
export interface Asker {
  kavach: Authorizer;
  server: string;
  onError: (message: string, error: unknown) => void;
}

/** An agent, and the context of the request it made. */
export interface Who {
  agentId: string;
  context: CallContext;
}

type Message = Record<string, unknown>;

interface RPCError {
  jsonrpc: "2.0";
  id: unknown;
  error: { code: number; message: string; data?: unknown };
}

function rpcError(id: unknown, code: number, message: string, data?: unknown): RPCError {
  const error: RPCError["error"] = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: "2.0", id: id === undefined ? null : id, error };
}

/** idKey tells JSON-RPC ids apart (1 and "1" are different requests). */
export function idKey(id: unknown): string {
  return JSON.stringify(id ?? null);
}

function isObject(v: unknown): v is Message {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** toolName is the name a tool can be authorized under, or undefined. */
function toolName(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" && !/[:* \t\r\n]/.test(v) ? v : undefined;
}

/** What authorizing a request's tool calls came to. */
export interface CallsVerdict {
  /** The JSON-RPC answer to send instead of forwarding the request, when a call was refused. */
  refusal?: string;
  /** The ids of the tools/call requests Kavach allowed. */
  allowed: Set<string>;
}

/**
 * authorizeCalls asks Kavach about every tools/call in a POSTed message or batch. A batch is
 * forwarded whole or not at all: when a call in it is refused, every request in it is answered
 * (the refused with their refusal, the others as not processed), as Go's mcpauth does.
 */
export async function authorizeCalls(a: Asker, who: Who, body: unknown): Promise<CallsVerdict> {
  const batch = Array.isArray(body);
  const msgs = batch ? body : [body];
  const allowed = new Set<string>();
  if (!msgs.every(isObject)) return { allowed }; // not JSON-RPC: the MCP server answers that
  const refusals: RPCError[] = [];
  for (const m of msgs) {
    if (m.method !== "tools/call") continue;
    const e = await decide(a, who, m);
    if (e) refusals.push(e);
    else allowed.add(idKey(m.id));
  }
  if (refusals.length === 0) return { allowed };
  if (!batch) return { refusal: goJSON(refusals[0]), allowed };
  const out: RPCError[] = [];
  for (const m of msgs) {
    if (!("id" in m) || m.id === undefined) continue;
    out.push(
      refusals.find((e) => idKey(e.id) === idKey(m.id)) ??
        rpcError(m.id, internalError, "not processed: another call in this batch was refused"),
    );
  }
  return { refusal: goJSON(out), allowed };
}

/** decide authorizes one tools/call and returns undefined when it may proceed. */
async function decide(a: Asker, who: Who, m: Message): Promise<RPCError | undefined> {
  const params = isObject(m.params) ? m.params : {};
  const tool = toolName(params.name);
  if (!tool) {
    return rpcError(m.id, invalidParams, `tool name ${JSON.stringify(params.name ?? "")} cannot be authorized`);
  }
  const args = params.arguments;
  if (args !== undefined && args !== null && !isObject(args)) {
    return rpcError(m.id, invalidParams, "the tool's arguments must be an object");
  }
  const call: AuthorizeCall = { action: toolAction, resource: `mcp:${a.server}:${tool}` };
  if (isObject(args)) call.arguments = args;
  let d;
  try {
    d = await withMetaTrace(params._meta, () => a.kavach.authorize(who.agentId, call, who.context));
  } catch (err) {
    return failed(a, m.id, tool, err);
  }
  if (d.allowed) return undefined;
  const data: DeniedData = { code: d.code, reason: d.reason ?? "" };
  if (d.auditId) data.auditId = d.auditId;
  if (d.approvalId) data.approvalId = d.approvalId;
  if (d.retryAfter) data.retryAfter = d.retryAfter;
  const msg = `Kavach denied calling ${tool}: ${d.code}` + (d.reason ? ` (${d.reason})` : "");
  return rpcError(m.id, deniedCode, msg, data);
}

/** failed turns an error on the way to a decision into a refusal: the call does not run. */
function failed(a: Asker, id: unknown, tool: string, err: unknown): RPCError {
  if (err instanceof KavachError && err.isInvalidInput) {
    return rpcError(id, invalidParams, "the call cannot be authorized: " + err.message);
  }
  a.onError(`kavach: authorize failed; the call to ${tool} is refused`, err);
  let reason = "the authorization service failed";
  if (err instanceof KavachError && err.code !== "internal") reason += ": " + err.code;
  const data: DeniedData = { code: "ENGINE_ERROR", reason };
  return rpcError(id, deniedCode, "Kavach could not authorize calling " + tool, data);
}

/** visibleTools keeps the tools a dry run says the agent may call (or could, see listable). */
export async function visibleTools(a: Asker, who: Who, tools: unknown[]): Promise<unknown[]> {
  const keep = await Promise.all(
    tools.map(async (t) => {
      const tool = toolName(isObject(t) ? t.name : undefined);
      if (!tool) return false;
      const call = { action: toolAction, resource: `mcp:${a.server}:${tool}`, dryRun: true };
      try {
        return listable.has((await a.kavach.authorize(who.agentId, call, who.context)).code);
      } catch (err) {
        a.onError(`kavach: a tools/list check failed; ${tool} is hidden`, err);
        return false;
      }
    }),
  );
  return tools.filter((_, i) => keep[i]);
}

/** What the transport guard needs to know of a message's sender. */
export interface Admitted {
  who: Who;
  /** The ids of the tools/call requests authorized for this HTTP request. */
  allowed: Set<string>;
}

/**
 * guardTransport wraps an MCP server transport. Incoming tools/call requests must have been
 * authorized on their way in (else they are refused here: a server can only be reached around
 * the guard by mistake, and then it fails closed); incoming tools/list requests are noted with
 * their sender, and their answers narrowed before the transport sends them.
 */
export function guardTransport(
  inner: Transport,
  a: Asker,
  admitted: (extra: MessageExtraInfo | undefined) => Admitted | undefined,
): Transport {
  const lists = new Map<string, Who>();
  const screen = (m: JSONRPCMessage, extra: MessageExtraInfo | undefined): boolean => {
    const msg = m as Message;
    if ((msg.method !== "tools/call" && msg.method !== "tools/list") || !("id" in msg)) return true;
    const sender = admitted(extra);
    if (sender && msg.method === "tools/list") {
      lists.set(idKey(msg.id), sender.who);
      return true;
    }
    if (sender?.allowed.has(idKey(msg.id))) return true;
    const e = rpcError(msg.id, internalError, `${msg.method} did not come through the Kavach guard`);
    inner
      .send(e as JSONRPCMessage)
      .catch((err: unknown) => a.onError("kavach: answering a refused request failed", err));
    return false;
  };
  const narrow = async (m: JSONRPCMessage): Promise<JSONRPCMessage> => {
    const msg = m as Message;
    if (!("id" in msg) || typeof msg.method === "string") return m;
    const who = lists.get(idKey(msg.id));
    if (!who) return m;
    lists.delete(idKey(msg.id));
    const result = msg.result;
    if (!isObject(result) || !Array.isArray(result.tools)) return m;
    const tools = await visibleTools(a, who, result.tools);
    return { ...msg, result: { ...result, tools } } as unknown as JSONRPCMessage;
  };
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === "send") {
        return async (m: JSONRPCMessage, opts?: Parameters<Transport["send"]>[1]) => target.send(await narrow(m), opts);
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
    set(target, prop, value: unknown) {
      if (prop === "onmessage" && typeof value === "function") {
        const deliver = value as NonNullable<Transport["onmessage"]>;
        target.onmessage = (m, extra) => {
          if (screen(m, extra)) deliver(m, extra);
        };
        return true;
      }
      return Reflect.set(target, prop, value, target);
    },
  });
}
