/**
 * The API's request and response types, named. They come from src/generated/openapi.ts,
 * which is generated from docs/openapi.yaml (npm run generate) and never edited by hand.
 */
import type { components, operations } from "./generated/openapi.js";

export type Schemas = components["schemas"];
type Query<Op extends keyof operations> = NonNullable<operations[Op]["parameters"]["query"]>;

// Operations
export type Status = Schemas["Status"];
export type PolicyStatus = Schemas["PolicyStatus"];
/** The shadow revision's counts and recent disagreements, in PolicyStatus when one runs. */
export type ShadowStatus = Schemas["ShadowStatus"];
export type ShadowCount = Schemas["ShadowCount"];
export type ShadowDisagreement = Schemas["ShadowDisagreement"];

// Policy replay
/** A candidate policy bundle: the bytes of a .tar.gz as `kavach bundle build` or `opa build` makes it. */
export type PolicyBundle = Uint8Array | ArrayBuffer | Blob;
/**
 * POST /v1/policy/replay's query: which recorded decisions to replay and how many changed
 * groups to list. `since` is a Date, an RFC 3339 time or a duration back from now ("24h").
 */
export type ReplayQuery = Omit<Query<"replayPolicy">, "since"> & { since?: string | Date };
export type ReplayReport = Schemas["ReplayReport"];
export type ReplayTransition = Schemas["ReplayTransition"];
export type ReplayGroup = Schemas["ReplayGroup"];
export type ReplayUnreplayable = Schemas["ReplayUnreplayable"];
export type ReplayRevisionCount = Schemas["ReplayRevisionCount"];

// Tenants
export type Tenant = Schemas["Tenant"];
export type TenantList = Schemas["TenantList"];
export type CreateTenantRequest = Schemas["CreateTenantRequest"];

// API keys
export type APIKey = Schemas["APIKey"];
export type APIKeyWithSecret = Schemas["APIKeyWithSecret"];
export type APIKeyList = Schemas["APIKeyList"];
export type CreateAPIKeyRequest = Schemas["CreateAPIKeyRequest"];
export type APIKeyRole = CreateAPIKeyRequest["role"];
export type ListAPIKeysQuery = Query<"listAPIKeys">;

// Agents and their permissions
export type Agent = Schemas["Agent"];
export type AgentWithToken = Schemas["AgentWithToken"];
export type AgentList = Schemas["AgentList"];
export type CreateAgentRequest = Schemas["CreateAgentRequest"];
export type UpdateAgentRequest = Schemas["UpdateAgentRequest"];
export type ListAgentsQuery = Query<"listAgents">;
export type RotateRequest = Schemas["RotateRequest"];
export type RotateResult = Schemas["RotateResult"];
export type Capabilities = Schemas["Capabilities"];
export type Capability = Schemas["Capability"];
export type CapabilityConstraints = Schemas["CapabilityConstraints"];
export type Permission = Schemas["Permission"];
export type Constraints = Schemas["Constraints"];
export type RateLimit = Schemas["RateLimit"];
export type TimeWindow = Schemas["TimeWindow"];
export type Approval = Schemas["Approval"];
/** A Go duration string: "90s", "15m", "24h". */
export type Duration = Schemas["Duration"];

// Decisions
export type Decision = Schemas["Decision"];
/** A decision code: ALLOWED, NO_PERMISSION, APPROVAL_REQUIRED, … */
export type DecisionCode = Decision["code"];
export type CallContext = Schemas["CallContext"];
/** The body of POST /v1/authorize: the agent by `agentId` or by `token`, and the call. */
export type AuthorizeAgentRequest = Schemas["AuthorizeAgentRequest"];

/** The call an agent wants to make. */
export interface AuthorizeCall {
  action: string;
  resource: string;
  arguments?: Record<string, unknown>;
  /** Answer with no side effect: no rate slot is taken, no approval request is opened. */
  dryRun?: boolean;
}

// Delegations
export type Delegation = Schemas["Delegation"];
export type DelegationList = Schemas["DelegationList"];
export type DelegateRequest = Schemas["DelegateRequest"];
export type ListDelegationsQuery = Query<"listDelegations">;

// Approvals
export type ApprovalRequest = Schemas["ApprovalRequest"];
export type ApprovalList = Schemas["ApprovalList"];
export type ApproveRequest = Schemas["ApproveRequest"];
export type DenyRequest = Schemas["DenyRequest"];
export type ListApprovalsQuery = Query<"listApprovals">;

// Audit
export type AuditEvent = Schemas["AuditEvent"];
export type AuditPage = Schemas["AuditPage"];
export type AuditReport = Schemas["AuditReport"];
export type AuditProgress = Schemas["AuditProgress"];
export type AuditVerifyLine = Schemas["AuditVerifyLine"];
/** GET /v1/audit's filters and paging. */
export type AuditQuery = Query<"queryAudit">;
/** The filters shared by a query and an export. */
export type AuditFilter = Omit<AuditQuery, "limit" | "cursor" | "afterSeq">;
/** GET /v1/audit/export's format and filters. */
export type AuditExportQuery = Query<"exportAudit">;
export type AuditExportFormat = NonNullable<AuditExportQuery["format"]>;
/** GET /v1/audit/verify's options (stream is the client's to choose). */
export type AuditVerifyQuery = Omit<Query<"verifyAudit">, "stream">;

// AuthZEN
export type AuthZENConfiguration = Schemas["AuthZENConfiguration"];
export type AuthZENSubject = Schemas["AuthZENSubject"];
export type AuthZENResource = Schemas["AuthZENResource"];
export type AuthZENAction = Schemas["AuthZENAction"];
export type AuthZENContext = Schemas["AuthZENContext"];
export type AuthZENOptions = Schemas["AuthZENOptions"];
export type AuthZENEvaluation = Schemas["AuthZENEvaluation"];
export type AuthZENEvaluationRequest = Schemas["AuthZENEvaluationRequest"];
export type AuthZENEvaluationsRequest = Schemas["AuthZENEvaluationsRequest"];
export type AuthZENEvaluationsResponse = Schemas["AuthZENEvaluationsResponse"];
export type AuthZENDecision = Schemas["AuthZENDecision"];
export type AuthZENDecisionContext = Schemas["AuthZENDecisionContext"];
export type AuthZENSearchRequest = Schemas["AuthZENSearchRequest"];
type SearchBase = Omit<AuthZENSearchRequest, "subject" | "action" | "resource">;
/** An action search: the subject and a concrete resource. */
export type AuthZENActionSearchRequest = SearchBase & { subject: AuthZENSubject; resource: AuthZENResource };
/** A resource search: the subject, the action and the resource's type, without an id. */
export type AuthZENResourceSearchRequest = SearchBase & {
  subject: AuthZENSubject;
  action: AuthZENAction;
  resource: Omit<AuthZENResource, "id"> & { id?: never };
};
/** A subject search: the subject's type without an id, the action and a concrete resource. */
export type AuthZENSubjectSearchRequest = SearchBase & {
  subject: Omit<AuthZENSubject, "id"> & { id?: never };
  action: AuthZENAction;
  resource: AuthZENResource;
};
export type AuthZENActionSearchResponse = Schemas["AuthZENActionSearchResponse"];
export type AuthZENResourceSearchResponse = Schemas["AuthZENResourceSearchResponse"];
export type AuthZENSubjectSearchResponse = Schemas["AuthZENSubjectSearchResponse"];
