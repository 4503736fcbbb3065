import { kavach } from "@kavach/sdk/next";
import { headers } from "next/headers";

/** One guard for every route, configured from the environment the suite starts the server with. */
export const guard = kavach({
  kavach: { url: process.env.KAVACH_URL ?? "", apiKey: process.env.KAVACH_API_KEY ?? "" },
  trustedProxies: (process.env.KAVACH_TRUSTED_PROXIES ?? "").split(",").filter(Boolean),
  accessTokens: { issuer: process.env.KAVACH_ISSUER ?? "", resource: process.env.KAVACH_RESOURCE ?? "" },
});

/** The suite's answer for an allowed request; the credential must be gone from the request and from next/headers. */
export async function answer(request: Request, decision: { code: string; grant?: string; auditId: string }): Promise<Response> {
  const nextHeaders = await headers();
  return Response.json({
    code: decision.code,
    grant: decision.grant,
    auditId: decision.auditId,
    sawAuthorization: request.headers.has("authorization") || nextHeaders.has("authorization"),
  });
}
