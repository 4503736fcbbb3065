import type { H3Event } from "h3";

/** What the adapter suite expects of a guarded route: the decision, and whether the header got through. */
export function repoAnswer(event: H3Event) {
  const d = event.context.kavach!;
  return {
    code: d.code,
    grant: d.grant,
    auditId: d.auditId,
    sawAuthorization: getRequestHeader(event, "authorization") !== undefined || event.headers.has("authorization"),
  };
}
