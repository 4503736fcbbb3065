/**
 * Generated from docs/openapi.yaml by `npm run generate` (scripts/generate.mjs).
 * Do not edit: change docs/openapi.yaml and run `npm run generate`;
 * `npm run check:generated` fails while this file and the specification differ.
 */

export interface paths {
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The process is up. */
        get: operations["healthz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The store answers and no shutdown has begun. */
        get: operations["readyz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Prometheus metrics.
         * @description `kavach_decisions_total{code}`, `kavach_decision_duration_seconds`,
         *     `kavach_http_requests_total{method,route,status}`,
         *     `kavach_http_request_duration_seconds{method,route}`, Go and process metrics.
         */
        get: operations["metrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/tenants": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List tenants (root sees all; others their own). */
        get: operations["listTenants"];
        put?: never;
        /** Create a tenant (root only). */
        post: operations["createTenant"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/tenants/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getTenant"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/api-keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List API keys, never their secrets.
         * @description Root lists every key; an admin its tenant's; a user its own; an app none.
         */
        get: operations["listAPIKeys"];
        put?: never;
        /**
         * Create an API key; its secret is in the answer only.
         * @description Only root creates root keys; an admin creates admin, app and user keys in its own
         *     tenant; app and user callers create none. A user key names its `ownerId`.
         */
        post: operations["createAPIKey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/api-keys/{id}/revoke": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Revoke an API key for good (revoking twice is not an error). */
        post: operations["revokeAPIKey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/agents": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List agents in creation order, a page at a time. */
        get: operations["listAgents"];
        put?: never;
        /** Create an agent; its token is in the answer (and on rotate) only. */
        post: operations["createAgent"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/agents/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getAgent"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /** Change the fields that are set; permissions replace the whole list. */
        patch: operations["updateAgent"];
        trace?: never;
    };
    "/v1/agents/{id}/capabilities": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** What the agent may do, its effective grants (own, then delegated with their chain), with a summary of their constraints. */
        get: operations["agentCapabilities"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/agents/{id}/rotate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Issue a new token; the old one stops at once or after `gracePeriod`. */
        post: operations["rotateAgent"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/agents/{id}/revoke": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Revoke the agent for good (revoking twice is not an error). */
        post: operations["revokeAgent"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/tokens/validate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * The agent a token belongs to, if the token is current and the agent may act.
         * @description A token that is not valid is 401 with `reason` TOKEN_INVALID, AGENT_REVOKED or
         *     AGENT_EXPIRED.
         */
        post: operations["validateToken"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/authorize": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * May this agent make this call? Always 200 with the decision.
         * @description For an app (or admin, or user) caller: `context.ip` is the end client's address as
         *     the app reports it. The agent is named by `agentId`, or by `token`, the `kv_…` token
         *     it presented to the app (exactly one of the two). An agent the caller cannot see is
         *     AGENT_NOT_FOUND by id and TOKEN_INVALID by token, as is a malformed, unknown or
         *     rotated-out token.
         */
        post: operations["authorize"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/authorize/token": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * May the agent holding this token make this call? Always 200 with the decision.
         * @description The credential is the agent's own token. The client address is the connection's, or
         *     the left-most X-Forwarded-For hop not added by a configured trusted proxy; the body
         *     cannot carry one. An invalid token is the decision TOKEN_INVALID; a missing one, or
         *     an API key in its place, is 401.
         */
        post: operations["authorizeToken"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/delegations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listDelegations"];
        put?: never;
        /**
         * Hand a subset of one agent's rights to another agent of the same tenant.
         * @description Refusals carry a `reason`: FROM_INACTIVE, TO_INACTIVE, SELF_DELEGATION,
         *     DELEGATION_CYCLE, NOT_COVERED, DEPTH_EXCEEDED, EXPIRY_EXCEEDS_PARENT, CROSS_TENANT,
         *     OTHER_OWNER.
         */
        post: operations["createDelegation"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/delegations/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getDelegation"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/delegations/{id}/revoke": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** End a delegation; everything delegated through it stops at once. */
        post: operations["revokeDelegation"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/approvals": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listApprovals"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/approvals/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getApproval"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/approvals/{id}/approve": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Allow the exact call `uses` times (default 1) within `ttl`. */
        post: operations["approve"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/approvals/{id}/deny": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Deny the call until the request would have expired. */
        post: operations["deny"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/audit": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Audit events, newest first by default, with cursor pagination. A user sees its own agents' events. */
        get: operations["queryAudit"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/audit/export": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Every matching event, oldest first by default, streamed with no row cap. */
        get: operations["exportAudit"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/audit/verify": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Walk the hash chains (the caller's tenant; for root every tenant, or tenantId) and name the first broken or missing event.
         * @description The route has no write deadline: a large ledger takes as long as it takes, and the client's disconnect ends it. With stream=true or Accept application/x-ndjson the answer is NDJSON: a progress line as each chain's walk begins and every 10,000 events, then the report (or, if verification fails midway, an error line).
         */
        get: operations["verifyAudit"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/policy/status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The active policy revision (stamped on every audit event) and the last one refused. */
        get: operations["policyStatus"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/policy/replay": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Re-decide recorded decisions under the active revision and a candidate bundle, and report what would change.
         * @description Root only: a candidate's custom rules read every tenant's agents (a tenant admin replays
         *     an export of its tenant offline, `kavach policy replay --ledger`). The body is the candidate bundle
         *     (`.tar.gz`, as `kavach bundle build` or `opa build` makes it), verified with the server's
         *     bundle verification key when one is configured, and checked as activation would check it.
         *     Each replayable decision is judged by both revisions with the agents' current state and
         *     its recorded time, client address and arguments; nothing is charged, opened or recorded.
         *     The ledger is read as a stream; the route has no write deadline. See
         *     docs/policies.md#rolling-out-a-change.
         */
        post: operations["replayPolicy"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/.well-known/authzen-configuration": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * AuthZEN Policy Decision Point metadata (docs/authzen.md).
         * @description `policy_decision_point` is the address the request reached (scheme and Host); every
         *     endpoint of AuthZEN 1.0 is listed. See docs/authzen.md#discovery.
         */
        get: operations["authzenConfiguration"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/access/v1/evaluation": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * AuthZEN 1.0 access evaluation over /v1/authorize's decision. Always 200 with the decision.
         * @description Subject `{type: "agent", id}`; resource `type + ":" + id` is the Kavach resource;
         *     `action.properties.arguments` the call's arguments; `options.dryRun` a dry run.
         *     Unknown members are ignored, as the specification requires. The caller is an API
         *     key, or the subject agent's own token (another agent as subject is 403; a token that
         *     is not valid is 401, audited as TOKEN_INVALID). A failure on our side is
         *     `decision: false` with `context.code` ENGINE_ERROR. Every decision is audited. See
         *     docs/authzen.md.
         */
        post: operations["authzenEvaluation"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/access/v1/evaluations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * AuthZEN 1.0 access evaluations (batch), judged in request order.
         * @description Top-level `subject`, `action`, `resource` and `context` are defaults an item's own
         *     member replaces. `options.evaluations_semantic` is `execute_all` (default),
         *     `deny_on_first_deny` (stop after the first false) or `permit_on_first_permit` (stop
         *     after the first true); the answer lists the judged items in request order. A
         *     malformed request is 400 with nothing judged; an item that cannot be taken as a call
         *     (a missing member, a subject that is not an agent, an invalid id or action) is
         *     answered in place with `context.error`. Without `evaluations` the request and its
         *     answer are a single evaluation's. At most 1000 items.
         */
        post: operations["authzenEvaluations"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/access/v1/search/action": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * AuthZEN 1.0 action search: the actions the subject may take on the resource.
         * @description `subject` (`type` and `id`) and `resource` (`type` and `id`, concrete) are required; a
         *     subject of another type than `agent` has no results.
         *     Candidates come from the subject's effective grants (`GET /v1/agents/{id}/capabilities`);
         *     a grant's pattern is answered as its pattern, marked `properties.pattern: true`, never
         *     expanded. Every answered item passed a dry-run decision (audited as a check) in the
         *     request's context, a pattern on its representative (each `*` replaced by `_`), so
         *     custom denies narrow the answer. See docs/authzen.md#search.
         */
        post: operations["authzenSearchAction"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/access/v1/search/resource": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * AuthZEN 1.0 resource search: the resources of a type the subject may act on with the action.
         * @description `subject` (`type` and `id`), `action.name` and `resource.type` are required; a `resource.id`
         *     is ignored (AuthZEN §8.5.1). A subject of another type than `agent` has no results.
         *     Candidates come from the subject's effective grants (`GET /v1/agents/{id}/capabilities`);
         *     a grant's pattern is answered as its pattern, marked `properties.pattern: true`, never
         *     expanded. Every answered item passed a dry-run decision (audited as a check) in the
         *     request's context, a pattern on its representative (each `*` replaced by `_`), so
         *     custom denies narrow the answer. See docs/authzen.md#search.
         */
        post: operations["authzenSearchResource"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/access/v1/search/subject": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * AuthZEN 1.0 subject search: the agents within the caller's reach that may take the action on the resource.
         * @description `subject.type`, `action.name` and `resource` (`type` and `id`, concrete) are required;
         *     a `subject.id` is ignored (AuthZEN §8.4.1), and a type other than `agent` has no
         *     results. The agents are those the caller's key can see (its owner's
         *     for a `user` key, its tenant's for `admin` and `app`, the default tenant's for root;
         *     an agent's own token finds only itself), in id order. An agent is answered only if
         *     one of its effective grants names the call and a dry run (audited as a check)
         *     allows it. See docs/authzen.md#search.
         */
        post: operations["authzenSearchSubject"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/.well-known/authzen-configuration/tenants/{tenant}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The metadata of a tenant's own AuthZEN PDP, https://host/tenants/{tenant} (docs/authzen.md#tenants).
         * @description AuthZEN §9.2 inserts the well-known string after the host of a PDP identifier with a
         *     path. `policy_decision_point` is the address the request reached with
         *     `/tenants/{tenant}`; the endpoints are the tenant's. Any well-formed tenant id is
         *     answered: whether the tenant exists is not looked up.
         */
        get: operations["authzenTenantConfiguration"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tenants/{tenant}/access/v1/evaluation": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A tenant's AuthZEN access evaluation.
         * @description `/access/v1/evaluation` of the tenant's own PDP (docs/authzen.md#tenants): the same request
         *     and answer, for callers of the tenant only. Another tenant's key and a root key are
         *     403; another tenant's agent token is not valid here (401).
         */
        post: operations["authzenTenantEvaluation"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tenants/{tenant}/access/v1/evaluations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A tenant's AuthZEN access evaluations.
         * @description `/access/v1/evaluations` of the tenant's own PDP (docs/authzen.md#tenants): the same request
         *     and answer, for callers of the tenant only. Another tenant's key and a root key are
         *     403; another tenant's agent token is not valid here (401).
         */
        post: operations["authzenTenantEvaluations"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tenants/{tenant}/access/v1/search/action": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A tenant's AuthZEN action search.
         * @description `/access/v1/search/action` of the tenant's own PDP (docs/authzen.md#tenants): the same request
         *     and answer, for callers of the tenant only. Another tenant's key and a root key are
         *     403; another tenant's agent token is not valid here (401).
         */
        post: operations["authzenTenantSearchAction"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tenants/{tenant}/access/v1/search/resource": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A tenant's AuthZEN resource search.
         * @description `/access/v1/search/resource` of the tenant's own PDP (docs/authzen.md#tenants): the same request
         *     and answer, for callers of the tenant only. Another tenant's key and a root key are
         *     403; another tenant's agent token is not valid here (401).
         */
        post: operations["authzenTenantSearchResource"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tenants/{tenant}/access/v1/search/subject": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A tenant's AuthZEN subject search.
         * @description `/access/v1/search/subject` of the tenant's own PDP (docs/authzen.md#tenants): the same request
         *     and answer, for callers of the tenant only. Another tenant's key and a root key are
         *     403; another tenant's agent token is not valid here (401).
         */
        post: operations["authzenTenantSearchSubject"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        PolicyStatus: {
            revision: string;
            source?: string;
            /** Format: date-time */
            activatedAt: string;
            /** @description why the last refused revision was refused; the active one stayed */
            lastError?: string;
            /** Format: date-time */
            lastErrorAt?: string;
            activations: number;
            rejections: number;
            /** @description false while a configured bundle is not yet active (the service is then not ready) */
            bundleLoaded: boolean;
            shadow?: components["schemas"]["ShadowStatus"];
        };
        /** @description The shadow revision (`kavach serve --shadow-bundle`), evaluated beside the active one on a sample of real calls, off the request path; it never changes an answer. */
        ShadowStatus: {
            revision: string;
            sample: number;
            evaluated: number;
            disagreed: number;
            /** @description calls offered to a full queue and not evaluated */
            dropped: number;
            errors: number;
            byCodes: components["schemas"]["ShadowCount"][];
            /** @description recent disagreements, newest first, at most one a second for each pair of codes; only those of agents the caller may read */
            examples: components["schemas"]["ShadowDisagreement"][];
        };
        ShadowCount: {
            active: string;
            shadow: string;
            count: number;
        };
        ShadowDisagreement: {
            /** Format: date-time */
            time: string;
            tenantId?: string;
            ownerId?: string;
            agentId: string;
            action: string;
            resource: string;
            activeRevision: string;
            activeCode: string;
            shadowCode: string;
            shadowReason?: string;
            /** @description the shadow revision's custom rules that held (file:row: head) */
            rules?: string[];
        };
        /** @description What a candidate revision would change. Codes are the policy's before obligations: ALLOWED, APPROVAL_REQUIRED when only a human approval would let the call through, or a denial. */
        ReplayReport: {
            activeRevision: string;
            candidateRevision: string;
            /** @description recorded decisions read */
            read: number;
            replayed: number;
            changed: number;
            matrix: components["schemas"]["ReplayTransition"][];
            groups: components["schemas"]["ReplayGroup"][];
            /** @description changed decisions of groups past the first 10,000 distinct ones: counted, not grouped */
            ungrouped?: number;
            unreplayable: components["schemas"]["ReplayUnreplayable"][];
            recordedRevisions: components["schemas"]["ReplayRevisionCount"][];
        };
        ReplayTransition: {
            from: string;
            to: string;
            count: number;
        };
        ReplayGroup: {
            tenantId: string;
            agentId: string;
            action: string;
            /** @description the resource pattern (last segment replaced by * when it has three or more) */
            resource: string;
            from: string;
            to: string;
            count: number;
            exampleAuditId: string;
            exampleSeq: number;
            exampleReason?: string;
            candidateRules?: string[];
            activeRules?: string[];
        };
        ReplayUnreplayable: {
            reason: string;
            count: number;
            exampleAuditId: string;
        };
        ReplayRevisionCount: {
            revision: string;
            count: number;
        };
        /** @description One decision or management action, in its tenant's hash chain. */
        AuditEvent: {
            /** @description UUIDv7 */
            id?: string;
            seq?: number;
            /** Format: date-time */
            time?: string;
            tenantId?: string;
            /** @enum {string} */
            kind?: "decision" | "management";
            agentId?: string;
            ownerId?: string;
            actor?: string;
            action?: string;
            resource?: string;
            arguments?: {
                [key: string]: unknown;
            };
            result?: string;
            code?: string;
            reason?: string;
            durationNs?: number;
            ip?: string;
            userAgent?: string;
            grant?: string;
            via?: string[];
            approvalId?: string;
            revision?: string;
            /** @description The W3C trace id of the request that led to the event, when the caller sent trace context or Kavach traced the request. Covered by the hash when present. */
            traceId?: string;
            prevHash?: string;
            hash?: string;
        };
        AuditPage: {
            events: components["schemas"]["AuditEvent"][];
            nextCursor?: string;
        };
        AuditReport: {
            ok: boolean;
            checked: number;
            firstBrokenId?: string;
            firstBrokenSeq?: number;
            tenantId?: string;
            problem?: string;
            /** @description findings that do not fail verification but weaken it, such as a chain with events but no signed checkpoint */
            warnings?: string[];
        };
        AuditProgress: {
            tenantId: string;
            /** @description events of this chain verified so far */
            checked: number;
            /** @description the last of them */
            seq: number;
            /** @description the chain's head when its walk began */
            head: number;
        };
        /** @description One line of a streamed verification; exactly one property is set. */
        AuditVerifyLine: {
            progress?: components["schemas"]["AuditProgress"];
            report?: components["schemas"]["AuditReport"];
            error?: components["schemas"]["Problem"];
        };
        /**
         * @description A Go duration string.
         * @example 90s
         * @example 15m
         * @example 24h
         */
        Duration: string;
        Status: {
            status?: string;
        };
        /** @description RFC 9457 problem details. */
        Problem: {
            /** @description urn:kavach:problem:<code> */
            type: string;
            title: string;
            status: number;
            detail?: string;
            /** @enum {string} */
            code: "invalid_input" | "unauthenticated" | "forbidden" | "not_found" | "conflict" | "internal";
            /** @description the offending input field */
            field?: string;
            /** @description a decision or refusal code */
            reason?: string;
        };
        CreateTenantRequest: {
            id: string;
            name?: string;
        };
        Tenant: {
            id?: string;
            name?: string;
            /** Format: date-time */
            createdAt?: string;
        };
        TenantList: {
            tenants?: components["schemas"]["Tenant"][];
        };
        CreateAPIKeyRequest: {
            /** @enum {string} */
            role: "root" | "admin" | "app" | "user";
            /** @description default the caller's tenant; empty for a root key */
            tenantId?: string;
            /** @description required for a user key */
            ownerId?: string;
            name?: string;
        };
        APIKey: {
            /** @description key_… */
            id?: string;
            tenantId?: string;
            ownerId?: string;
            /** @enum {string} */
            role?: "root" | "admin" | "app" | "user";
            name?: string;
            /** @description the first characters of the secret */
            prefix?: string;
            createdBy?: string;
            /** Format: date-time */
            createdAt?: string;
            /** Format: date-time */
            revokedAt?: string;
        };
        APIKeyWithSecret: components["schemas"]["APIKey"] & {
            /** @description the secret, kva_…, shown only here */
            key?: string;
        };
        APIKeyList: {
            keys?: components["schemas"]["APIKey"][];
        };
        Permission: {
            /** @description perm_…; assigned by Kavach, kept across updates */
            id?: string;
            /** @example mcp:github:* */
            resource: string;
            actions: string[];
            constraints?: components["schemas"]["Constraints"];
        };
        Constraints: {
            rateLimit?: components["schemas"]["RateLimit"];
            timeWindows?: components["schemas"]["TimeWindow"][];
            ipAllowlist?: string[];
            /** @description RE2 patterns by argument name, anchored to the whole value. Each must stay within the cost limits (counted repetitions up to 100, nested repetitions multiplying to at most 32, at most 500 compiled instructions), else 400 naming the field. A string argument longer than 4096 bytes fails its pattern without being matched. */
            argumentPatterns?: {
                [key: string]: string;
            };
            approval?: components["schemas"]["Approval"];
        };
        RateLimit: {
            max: number;
            window: components["schemas"]["Duration"];
        };
        TimeWindow: {
            days?: ("mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun")[];
            /** @example 09:00 */
            start: string;
            /** @example 17:30 */
            end: string;
            /** @example Europe/Berlin */
            timezone: string;
        };
        Approval: {
            required?: boolean;
            ttl?: components["schemas"]["Duration"];
            approvers?: string[];
        };
        CreateAgentRequest: {
            /** @description root only; default the caller's tenant */
            tenantId?: string;
            /** @description default the caller's owner for a user key */
            ownerId?: string;
            name: string;
            /**
             * @default autonomous
             * @enum {string}
             */
            type?: "autonomous" | "delegated" | "service";
            /** Format: date-time */
            expiresAt?: string;
            permissions?: components["schemas"]["Permission"][];
            metadata?: {
                [key: string]: string;
            };
        };
        UpdateAgentRequest: {
            name?: string;
            permissions?: components["schemas"]["Permission"][];
            /** Format: date-time */
            expiresAt?: string;
            metadata?: {
                [key: string]: string;
            };
        };
        RotateRequest: {
            gracePeriod?: components["schemas"]["Duration"];
        };
        Agent: {
            /** @description agt_… */
            id?: string;
            tenantId?: string;
            ownerId?: string;
            name?: string;
            /** @enum {string} */
            type?: "autonomous" | "delegated" | "service";
            /** @enum {string} */
            status?: "active" | "revoked";
            tokenPrefix?: string;
            /** Format: date-time */
            expiresAt?: string;
            permissions?: components["schemas"]["Permission"][];
            metadata?: {
                [key: string]: string;
            };
            /** Format: date-time */
            createdAt?: string;
            /** Format: date-time */
            updatedAt?: string;
        };
        AgentWithToken: components["schemas"]["Agent"] & {
            /** @description kv_…, shown only here and on rotate */
            token?: string;
        };
        AgentList: {
            agents?: components["schemas"]["Agent"][];
            nextCursor?: string;
        };
        RotateResult: {
            agent?: components["schemas"]["Agent"];
            token?: string;
        };
        Capabilities: {
            agentId: string;
            /** @enum {string} */
            status: "active" | "revoked";
            capabilities: components["schemas"]["Capability"][];
        };
        Capability: {
            /** @description The permission id a decision through this grant reports. */
            grant: string;
            /** @description The resource pattern. */
            resource: string;
            actions: string[];
            /** @description The delegation chain, root first; absent for the agent's own permission. */
            via?: string[];
            /**
             * Format: date-time
             * @description When a delegated grant's chain ends.
             */
            expiresAt?: string;
            constraints?: components["schemas"]["CapabilityConstraints"];
        };
        /** @description One entry per level of the grant's chain that sets the constraint; all must hold. */
        CapabilityConstraints: {
            ipAllowlist?: string[][];
            timeWindows?: components["schemas"]["TimeWindow"][][];
            argumentPatterns?: {
                [key: string]: string[];
            };
            rateLimit?: components["schemas"]["RateLimit"][];
            approval?: components["schemas"]["Approval"];
        };
        ValidateTokenRequest: {
            token: string;
        };
        AuthorizeRequest: {
            action: string;
            resource: string;
            /** @description at most 64 KiB as JSON; names at most 128 bytes */
            arguments?: Record<string, unknown>;
            /** @description answer with no side effect (audited as a check) */
            dryRun?: boolean;
        };
        /**
         * @description Exactly one of `agentId` and `token` names the agent: its id, or the `kv_…` token it
         *     presented to the app. Both, or neither, is 400 naming the field.
         */
        AuthorizeAgentRequest: {
            /** @description the agent's id; not with token */
            agentId?: string;
            /** @description the agent's own kv_… token, as it presented it to the app; not with agentId. A malformed or overlong token is the decision TOKEN_INVALID, not a 400 */
            token?: string;
            action: string;
            resource: string;
            /** @description at most 64 KiB as JSON; names at most 128 bytes */
            arguments?: Record<string, unknown>;
            dryRun?: boolean;
            context?: components["schemas"]["CallContext"];
        } & ({
            agentId: unknown;
        } | {
            token: unknown;
        });
        CallContext: {
            /** @description the end client's IPv4 or IPv6 address, without a zone or white space */
            ip?: string;
            userAgent?: string;
        };
        Decision: {
            allowed: boolean;
            /** @enum {string} */
            code: "ALLOWED" | "AGENT_NOT_FOUND" | "AGENT_REVOKED" | "AGENT_EXPIRED" | "TOKEN_INVALID" | "NO_PERMISSION" | "RATE_LIMITED" | "OUTSIDE_TIME_WINDOW" | "IP_NOT_ALLOWED" | "ARGUMENT_NOT_ALLOWED" | "APPROVAL_REQUIRED" | "APPROVAL_DENIED" | "POLICY_DENIED" | "ENGINE_ERROR" | "POLICY_NOT_LOADED";
            reason: string;
            auditId: string;
            /** @description the permission that decided */
            grant?: string;
            /** @description the delegation chain the grant came through */
            via?: string[];
            approvalId?: string;
            retryAfter?: components["schemas"]["Duration"];
        };
        DelegateRequest: {
            fromAgentId: string;
            toAgentId: string;
            permissions: components["schemas"]["Permission"][];
            /** @default 3 */
            maxDepth?: number;
            /** Format: date-time */
            expiresAt?: string;
        };
        Delegation: {
            /** @description dlg_… */
            id?: string;
            tenantId?: string;
            fromAgentId?: string;
            toAgentId?: string;
            permissions?: components["schemas"]["Permission"][];
            depth?: number;
            maxDepth?: number;
            /** Format: date-time */
            expiresAt?: string;
            /** @enum {string} */
            status?: "active" | "revoked" | "expired";
            createdBy?: string;
            /** Format: date-time */
            createdAt?: string;
            /** Format: date-time */
            revokedAt?: string;
        };
        DelegationList: {
            delegations?: components["schemas"]["Delegation"][];
        };
        ApprovalRequest: {
            /** @description apr_… */
            id?: string;
            tenantId?: string;
            agentId?: string;
            ownerId?: string;
            permissionId?: string;
            action?: string;
            resource?: string;
            argumentsHash?: string;
            arguments?: Record<string, unknown>;
            approvers?: string[];
            /** @enum {string} */
            status?: "pending" | "approved" | "denied" | "expired" | "used";
            /** Format: date-time */
            expiresAt?: string;
            /** Format: date-time */
            createdAt?: string;
            decidedBy?: string;
            /** Format: date-time */
            decidedAt?: string;
            reason?: string;
            usesLeft?: number;
            /** Format: date-time */
            grantExpiresAt?: string;
        };
        ApprovalList: {
            approvals?: components["schemas"]["ApprovalRequest"][];
        };
        ApproveRequest: {
            reason?: string;
            /** @default 1 */
            uses?: number;
            ttl?: components["schemas"]["Duration"];
        };
        DenyRequest: {
            reason?: string;
        };
        /** @description Unknown members are ignored. */
        AuthZENSubject: {
            /** @enum {string} */
            type: "agent";
            /** @description the agent's id */
            id: string;
            /** @description ignored */
            properties?: {
                [key: string]: unknown;
            };
        };
        /** @description type + ":" + id, verbatim, is the Kavach resource; each part is a valid resource on its own (no `*`). */
        AuthZENResource: {
            type: string;
            id: string;
            /** @description ignored */
            properties?: {
                [key: string]: unknown;
            };
        };
        AuthZENAction: {
            name: string;
            /** @description `arguments` (an object) is the call's arguments; other members are ignored. */
            properties?: {
                [key: string]: unknown;
            };
        };
        /** @description API-key callers only (an agent's own token uses the connection's address); other members, `time` included, are ignored. */
        AuthZENContext: {
            ip?: string;
            userAgent?: string;
        } & {
            [key: string]: unknown;
        };
        AuthZENOptions: {
            /** @enum {string} */
            evaluations_semantic?: "execute_all" | "deny_on_first_deny" | "permit_on_first_permit";
            /**
             * @description evaluations_semantic as protobuf's JSON mapping spells it; read when evaluations_semantic is absent, and must agree with it when both are sent
             * @enum {string}
             */
            evaluationsSemantic?: "execute_all" | "deny_on_first_deny" | "permit_on_first_permit";
            /** @description no side effect; audited as a check */
            dryRun?: boolean;
        } & {
            [key: string]: unknown;
        };
        AuthZENEvaluation: {
            subject?: components["schemas"]["AuthZENSubject"];
            action?: components["schemas"]["AuthZENAction"];
            resource?: components["schemas"]["AuthZENResource"];
            context?: components["schemas"]["AuthZENContext"];
        };
        /** @description subject, action and resource are required. */
        AuthZENEvaluationRequest: components["schemas"]["AuthZENEvaluation"] & {
            options?: components["schemas"]["AuthZENOptions"];
        };
        AuthZENEvaluationsRequest: components["schemas"]["AuthZENEvaluation"] & {
            options?: components["schemas"]["AuthZENOptions"];
            evaluations?: components["schemas"]["AuthZENEvaluation"][];
        };
        AuthZENDecision: {
            decision: boolean;
            context?: components["schemas"]["AuthZENDecisionContext"];
        };
        AuthZENDecisionContext: {
            /** @enum {string} */
            code?: "ALLOWED" | "AGENT_NOT_FOUND" | "AGENT_REVOKED" | "AGENT_EXPIRED" | "TOKEN_INVALID" | "NO_PERMISSION" | "RATE_LIMITED" | "OUTSIDE_TIME_WINDOW" | "IP_NOT_ALLOWED" | "ARGUMENT_NOT_ALLOWED" | "APPROVAL_REQUIRED" | "APPROVAL_DENIED" | "POLICY_DENIED" | "ENGINE_ERROR" | "POLICY_NOT_LOADED";
            /** @description Kavach's reason keyed by an HTTP-like status */
            reason_admin?: {
                [key: string]: string;
            };
            /** @description a sentence for end users */
            reason_user?: {
                [key: string]: string;
            };
            auditId?: string;
            grant?: string;
            via?: string[];
            approvalId?: string;
            retryAfter?: components["schemas"]["Duration"];
            error?: components["schemas"]["AuthZENItemError"];
        };
        /** @description why one item of an evaluations request was not judged */
        AuthZENItemError: {
            status: number;
            message: string;
            field?: string;
        };
        AuthZENEvaluationsResponse: {
            evaluations: components["schemas"]["AuthZENDecision"][];
        };
        /**
         * @description Every member of the request but `page.token` must be the same on each page as on the
         *     first (AuthZEN §8.2); a token given with a changed request is 400 naming `page.token`.
         */
        AuthZENPage: {
            /** @description The next_token of the previous page; absent for the first. */
            token?: string;
            /**
             * @description The most results to return; above 1000 a page holds at most 1000; 0 is the default page (100).
             * @default 100
             */
            limit?: number;
            /** @description ignored */
            properties?: {
                [key: string]: unknown;
            };
        };
        AuthZENSearchRequest: {
            subject?: components["schemas"]["AuthZENSubject"];
            action?: components["schemas"]["AuthZENAction"];
            resource?: components["schemas"]["AuthZENResource"];
            context?: components["schemas"]["AuthZENContext"];
            page?: components["schemas"]["AuthZENPage"];
        };
        AuthZENPageResult: {
            /** @description Empty exactly when no result is left. */
            next_token: string;
            /** @description The results on this page. */
            count: number;
        };
        AuthZENActionSearchResponse: {
            page: components["schemas"]["AuthZENPageResult"];
            results: components["schemas"]["AuthZENAction"][];
        };
        AuthZENResourceSearchResponse: {
            page: components["schemas"]["AuthZENPageResult"];
            results: components["schemas"]["AuthZENResource"][];
        };
        AuthZENSubjectSearchResponse: {
            page: components["schemas"]["AuthZENPageResult"];
            results: components["schemas"]["AuthZENSubject"][];
        };
        AuthZENConfiguration: {
            /** Format: uri */
            policy_decision_point: string;
            /** Format: uri */
            access_evaluation_endpoint: string;
            /** Format: uri */
            access_evaluations_endpoint?: string;
            /** Format: uri */
            search_subject_endpoint?: string;
            /** Format: uri */
            search_resource_endpoint?: string;
            /** Format: uri */
            search_action_endpoint?: string;
            /** @description Capability URNs (AuthZEN §9.1.2); Kavach declares none, so omits it. */
            capabilities?: string[];
            /** @description A JWT of the metadata (AuthZEN §9.1.3); Kavach does not sign its metadata, so omits it. */
            signed_metadata?: string;
        };
    };
    responses: {
        /** @description Bad input; `field` names it. */
        BadRequest: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
        /** @description No credential, or one that is not valid (malformed, unknown or revoked). */
        Unauthorized: {
            headers: {
                "WWW-Authenticate"?: string;
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
        /** @description The caller's role may not do this. */
        Forbidden: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
        /** @description No such object within the caller's reach. */
        NotFound: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
        /** @description The object's state does not allow this. */
        Conflict: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
        /** @description The body is over the size limit (reason BODY_TOO_LARGE). */
        TooLarge: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
        /**
         * @description The request cannot be judged; `field` names the member by its full path. A body not
         *     sent as application/json is a 400 naming `Content-Type` here (AuthZEN §10.1.2), not a 415.
         */
        AuthZENBadRequest: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
        /** @description A body not sent as application/json (reason UNSUPPORTED_MEDIA_TYPE). */
        UnsupportedMediaType: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
        /** @description Not ready. */
        Unavailable: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
    };
    parameters: {
        /** @description for root callers; others read their own tenant */
        auditTenantId: string;
        auditAgentId: string;
        auditOwnerId: string;
        auditAction: string;
        /** @description a resource pattern such as mcp:github:* */
        auditResource: string;
        auditResult: "allowed" | "denied" | "rate_limited" | "approval_required" | "check" | "ok";
        auditCode: string;
        /** @description only events of requests in this W3C trace (32 hex digits) */
        auditTraceId: string;
        auditSince: string;
        auditUntil: string;
        auditOrder: "asc" | "desc";
        /** @description the tenant whose PDP this is */
        tenant: string;
        id: string;
    };
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    healthz: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Alive. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Status"];
                };
            };
        };
    };
    readyz: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Ready for traffic. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Status"];
                };
            };
            503: components["responses"]["Unavailable"];
        };
    };
    metrics: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Prometheus text exposition format. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
        };
    };
    listTenants: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Tenants in id order. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TenantList"];
                };
            };
            401: components["responses"]["Unauthorized"];
        };
    };
    createTenant: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateTenantRequest"];
            };
        };
        responses: {
            /** @description The tenant. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Tenant"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            409: components["responses"]["Conflict"];
            413: components["responses"]["TooLarge"];
            415: components["responses"]["UnsupportedMediaType"];
        };
    };
    getTenant: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The tenant. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Tenant"];
                };
            };
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    listAPIKeys: {
        parameters: {
            query?: {
                tenantId?: string;
                ownerId?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Keys, oldest first. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["APIKeyList"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
        };
    };
    createAPIKey: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateAPIKeyRequest"];
            };
        };
        responses: {
            /** @description The key and its secret `key`, shown only here. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["APIKeyWithSecret"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            413: components["responses"]["TooLarge"];
            415: components["responses"]["UnsupportedMediaType"];
        };
    };
    revokeAPIKey: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The key, with `revokedAt`. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["APIKey"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    listAgents: {
        parameters: {
            query?: {
                /** @description root only; default the caller's tenant */
                tenantId?: string;
                ownerId?: string;
                status?: "active" | "revoked";
                limit?: number;
                /** @description nextCursor of the previous page */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One page. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AgentList"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
        };
    };
    createAgent: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateAgentRequest"];
            };
        };
        responses: {
            /** @description The agent and its `token`. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AgentWithToken"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            413: components["responses"]["TooLarge"];
            415: components["responses"]["UnsupportedMediaType"];
        };
    };
    getAgent: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The agent. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Agent"];
                };
            };
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    updateAgent: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["UpdateAgentRequest"];
            };
        };
        responses: {
            /** @description The agent. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Agent"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
            413: components["responses"]["TooLarge"];
            415: components["responses"]["UnsupportedMediaType"];
        };
    };
    agentCapabilities: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The agent's capabilities; empty for a revoked or expired agent. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Capabilities"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    rotateAgent: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["RotateRequest"];
            };
        };
        responses: {
            /** @description The agent and its new token. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RotateResult"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
        };
    };
    revokeAgent: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The agent, status revoked. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Agent"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    validateToken: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ValidateTokenRequest"];
            };
        };
        responses: {
            /** @description The agent. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Agent"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
        };
    };
    authorize: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthorizeAgentRequest"];
            };
        };
        responses: {
            /** @description The decision. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Decision"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            413: components["responses"]["TooLarge"];
            415: components["responses"]["UnsupportedMediaType"];
        };
    };
    authorizeToken: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthorizeRequest"];
            };
        };
        responses: {
            /** @description The decision. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Decision"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            413: components["responses"]["TooLarge"];
            415: components["responses"]["UnsupportedMediaType"];
        };
    };
    listDelegations: {
        parameters: {
            query?: {
                agentId?: string;
                /** @description from (given) or to (received); both when absent */
                direction?: "from" | "to";
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Delegations, oldest first. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DelegationList"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    createDelegation: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["DelegateRequest"];
            };
        };
        responses: {
            /** @description The delegation. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Delegation"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
            413: components["responses"]["TooLarge"];
            415: components["responses"]["UnsupportedMediaType"];
        };
    };
    getDelegation: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The delegation. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Delegation"];
                };
            };
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    revokeDelegation: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The delegation, status revoked. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Delegation"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    listApprovals: {
        parameters: {
            query?: {
                status?: "pending" | "approved" | "denied" | "expired" | "used";
                agentId?: string;
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Approval requests, newest first. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ApprovalList"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
        };
    };
    getApproval: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The approval request. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ApprovalRequest"];
                };
            };
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
        };
    };
    approve: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["ApproveRequest"];
            };
        };
        responses: {
            /** @description The approval request, approved. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ApprovalRequest"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
        };
    };
    deny: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["DenyRequest"];
            };
        };
        responses: {
            /** @description The approval request, denied. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ApprovalRequest"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
        };
    };
    queryAudit: {
        parameters: {
            query?: {
                /** @description for root callers; others read their own tenant */
                tenantId?: components["parameters"]["auditTenantId"];
                agentId?: components["parameters"]["auditAgentId"];
                ownerId?: components["parameters"]["auditOwnerId"];
                action?: components["parameters"]["auditAction"];
                /** @description a resource pattern such as mcp:github:* */
                resource?: components["parameters"]["auditResource"];
                result?: components["parameters"]["auditResult"];
                code?: components["parameters"]["auditCode"];
                /** @description only events of requests in this W3C trace (32 hex digits) */
                traceId?: components["parameters"]["auditTraceId"];
                since?: components["parameters"]["auditSince"];
                until?: components["parameters"]["auditUntil"];
                order?: components["parameters"]["auditOrder"];
                limit?: number;
                /** @description nextCursor of the previous page */
                cursor?: string;
                /** @description only events after this seq of the tenant's chain */
                afterSeq?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One page of events. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuditPage"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
        };
    };
    exportAudit: {
        parameters: {
            query?: {
                /** @description `replay` (root or admin only) writes one tenant's agents and active delegations, then its decision events, as NDJSON: the file `kavach policy replay --ledger` reads offline (docs/policies.md#rolling-out-a-change). */
                format?: "json" | "ndjson" | "csv" | "replay";
                /** @description for root callers; others read their own tenant */
                tenantId?: components["parameters"]["auditTenantId"];
                agentId?: components["parameters"]["auditAgentId"];
                ownerId?: components["parameters"]["auditOwnerId"];
                action?: components["parameters"]["auditAction"];
                /** @description a resource pattern such as mcp:github:* */
                resource?: components["parameters"]["auditResource"];
                result?: components["parameters"]["auditResult"];
                code?: components["parameters"]["auditCode"];
                /** @description only events of requests in this W3C trace (32 hex digits) */
                traceId?: components["parameters"]["auditTraceId"];
                since?: components["parameters"]["auditSince"];
                until?: components["parameters"]["auditUntil"];
                order?: components["parameters"]["auditOrder"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The export (JSON array, NDJSON, RFC 4180 CSV with a header row, or a replay file). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuditEvent"][];
                    "application/x-ndjson": string;
                    "text/csv": string;
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
        };
    };
    verifyAudit: {
        parameters: {
            query?: {
                /** @description for root callers; others read their own tenant */
                tenantId?: components["parameters"]["auditTenantId"];
                /** @description checkpoint walks each chain only after the newest signed checkpoint an earlier verification confirmed */
                from?: "start" | "checkpoint";
                /** @description answer with NDJSON progress lines ending with the report (as Accept application/x-ndjson does) */
                stream?: boolean;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The verification report, or NDJSON lines ending with it. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuditReport"];
                    "application/x-ndjson": components["schemas"]["AuditVerifyLine"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
        };
    };
    policyStatus: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The policy status. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PolicyStatus"];
                };
            };
            401: components["responses"]["Unauthorized"];
        };
    };
    replayPolicy: {
        parameters: {
            query?: {
                /** @description replay this tenant's decisions (default: every tenant) */
                tenantId?: string;
                /** @description an RFC 3339 time, or a duration back from now such as 24h */
                since?: string;
                /** @description first seq of the tenant's chain (inclusive; needs tenantId) */
                fromSeq?: number;
                /** @description last seq (inclusive) */
                toSeq?: number;
                /** @description at most this many recorded decisions (0: all) */
                limit?: number;
                /** @description how many changed groups to list */
                top?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/gzip": string;
            };
        };
        responses: {
            /** @description What the candidate would change. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ReplayReport"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            413: components["responses"]["TooLarge"];
        };
    };
    authzenConfiguration: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The metadata. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENConfiguration"];
                };
            };
        };
    };
    authzenEvaluation: {
        parameters: {
            query?: never;
            header?: {
                /** @description echoed in the answer */
                "X-Request-ID"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthZENEvaluationRequest"];
            };
        };
        responses: {
            /** @description The decision. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENDecision"];
                };
            };
            400: components["responses"]["AuthZENBadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            413: components["responses"]["TooLarge"];
        };
    };
    authzenEvaluations: {
        parameters: {
            query?: never;
            header?: {
                /** @description echoed in the answer */
                "X-Request-ID"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthZENEvaluationsRequest"];
            };
        };
        responses: {
            /** @description One decision per judged item, in request order (or a single decision without `evaluations`). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENEvaluationsResponse"] | components["schemas"]["AuthZENDecision"];
                };
            };
            400: components["responses"]["AuthZENBadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            413: components["responses"]["TooLarge"];
        };
    };
    authzenSearchAction: {
        parameters: {
            query?: never;
            header?: {
                /** @description echoed in the answer */
                "X-Request-ID"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthZENSearchRequest"];
            };
        };
        responses: {
            /** @description One page of results, in a stable order; `page.next_token` is empty on the last page. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENActionSearchResponse"];
                };
            };
            400: components["responses"]["AuthZENBadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            413: components["responses"]["TooLarge"];
            /** @description The search could not be completed; nothing is answered rather than part. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    authzenSearchResource: {
        parameters: {
            query?: never;
            header?: {
                /** @description echoed in the answer */
                "X-Request-ID"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthZENSearchRequest"];
            };
        };
        responses: {
            /** @description One page of results, in a stable order; `page.next_token` is empty on the last page. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENResourceSearchResponse"];
                };
            };
            400: components["responses"]["AuthZENBadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            413: components["responses"]["TooLarge"];
            /** @description The search could not be completed; nothing is answered rather than part. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    authzenSearchSubject: {
        parameters: {
            query?: never;
            header?: {
                /** @description echoed in the answer */
                "X-Request-ID"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthZENSearchRequest"];
            };
        };
        responses: {
            /** @description One page of agents, in id order; `page.next_token` is empty on the last page. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENSubjectSearchResponse"];
                };
            };
            400: components["responses"]["AuthZENBadRequest"];
            401: components["responses"]["Unauthorized"];
            413: components["responses"]["TooLarge"];
            /** @description The search could not be completed; nothing is answered rather than part. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    authzenTenantConfiguration: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description the tenant whose PDP this is */
                tenant: components["parameters"]["tenant"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The metadata. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENConfiguration"];
                };
            };
            /** @description No tenant can have this id (tenant ids are 1 to 63 of a-z, 0-9, - and _). */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    authzenTenantEvaluation: {
        parameters: {
            query?: never;
            header?: {
                /** @description echoed in the answer */
                "X-Request-ID"?: string;
            };
            path: {
                /** @description the tenant whose PDP this is */
                tenant: components["parameters"]["tenant"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthZENEvaluationRequest"];
            };
        };
        responses: {
            /** @description As on the base PDP. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENDecision"];
                };
            };
            400: components["responses"]["AuthZENBadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            /** @description No tenant can have this id (tenant ids are 1 to 63 of a-z, 0-9, - and _). */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            413: components["responses"]["TooLarge"];
        };
    };
    authzenTenantEvaluations: {
        parameters: {
            query?: never;
            header?: {
                /** @description echoed in the answer */
                "X-Request-ID"?: string;
            };
            path: {
                /** @description the tenant whose PDP this is */
                tenant: components["parameters"]["tenant"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthZENEvaluationsRequest"];
            };
        };
        responses: {
            /** @description As on the base PDP. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENEvaluationsResponse"] | components["schemas"]["AuthZENDecision"];
                };
            };
            400: components["responses"]["AuthZENBadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            /** @description No tenant can have this id (tenant ids are 1 to 63 of a-z, 0-9, - and _). */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            413: components["responses"]["TooLarge"];
        };
    };
    authzenTenantSearchAction: {
        parameters: {
            query?: never;
            header?: {
                /** @description echoed in the answer */
                "X-Request-ID"?: string;
            };
            path: {
                /** @description the tenant whose PDP this is */
                tenant: components["parameters"]["tenant"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthZENSearchRequest"];
            };
        };
        responses: {
            /** @description As on the base PDP. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENActionSearchResponse"];
                };
            };
            400: components["responses"]["AuthZENBadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            /** @description No tenant can have this id (tenant ids are 1 to 63 of a-z, 0-9, - and _). */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            413: components["responses"]["TooLarge"];
            /** @description The search could not be completed; nothing is answered rather than part. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    authzenTenantSearchResource: {
        parameters: {
            query?: never;
            header?: {
                /** @description echoed in the answer */
                "X-Request-ID"?: string;
            };
            path: {
                /** @description the tenant whose PDP this is */
                tenant: components["parameters"]["tenant"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthZENSearchRequest"];
            };
        };
        responses: {
            /** @description As on the base PDP. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENResourceSearchResponse"];
                };
            };
            400: components["responses"]["AuthZENBadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            /** @description No tenant can have this id (tenant ids are 1 to 63 of a-z, 0-9, - and _). */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            413: components["responses"]["TooLarge"];
            /** @description The search could not be completed; nothing is answered rather than part. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    authzenTenantSearchSubject: {
        parameters: {
            query?: never;
            header?: {
                /** @description echoed in the answer */
                "X-Request-ID"?: string;
            };
            path: {
                /** @description the tenant whose PDP this is */
                tenant: components["parameters"]["tenant"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AuthZENSearchRequest"];
            };
        };
        responses: {
            /** @description As on the base PDP. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthZENSubjectSearchResponse"];
                };
            };
            400: components["responses"]["AuthZENBadRequest"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            /** @description No tenant can have this id (tenant ids are 1 to 63 of a-z, 0-9, - and _). */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            413: components["responses"]["TooLarge"];
            /** @description The search could not be completed; nothing is answered rather than part. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
}
