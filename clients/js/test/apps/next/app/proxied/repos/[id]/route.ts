import { proxyDecision } from "@kavach/sdk/next";
import type { NextRequest } from "next/server";
import { answer } from "../../../../lib/kavach";

/** Not wrapped: proxy.ts guards /proxied/ and passes the decision in request headers. */
export async function GET(request: NextRequest) {
  const d = proxyDecision(request);
  if (!d) return new Response("not through the proxy", { status: 500 });
  return answer(request, { code: "ALLOWED", ...d });
}
