import type { APIContext } from "astro";

/** What the adapter suite expects of a guarded route: the decision, and whether the header got through. */
export function repoAnswer({ locals, request }: APIContext): Response {
  const d = locals.kavach!;
  const sawAuthorization = request.headers.has("authorization") || locals.laterSawAuthorization !== false;
  return Response.json({ code: d.code, grant: d.grant, auditId: d.auditId, sawAuthorization });
}
