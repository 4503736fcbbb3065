package api

import "github.com/kavachos/kavach-go/agent"

// Wire types of the OpenID AuthZEN Authorization API 1.0 routes (docs/authzen.md). Member
// names follow the specification (snake_case where it uses it); the members Kavach adds
// inside its objects keep Kavach's camelCase.

// AuthZENSubject is who asks: for Kavach, {"type": "agent", "id": "agt_…"}.
type AuthZENSubject struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties,omitempty"`
}

// AuthZENResource is what is acted on; type + ":" + id is the Kavach resource.
type AuthZENResource struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties,omitempty"`
}

// AuthZENAction is the action; properties.arguments carries the call's arguments.
type AuthZENAction struct {
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties,omitempty"`
}

// AuthZENContext is the request's environment. Kavach reads ip and userAgent (for API-key
// callers only, as /v1/authorize does); every other member is accepted and ignored.
type AuthZENContext struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
}

// AuthZENOptions says how a request is to be executed.
type AuthZENOptions struct {
	// EvaluationsSemantic is execute_all (the default), deny_on_first_deny or
	// permit_on_first_permit; only the evaluations route reads it.
	EvaluationsSemantic string `json:"evaluations_semantic,omitempty"`
	// EvaluationsSemanticProto is the same option as protobuf's JSON mapping spells it,
	// evaluationsSemantic, which clients generated from protobuf definitions send (Cerbos's
	// Go SDK does). It is read when evaluations_semantic is absent; when both are sent
	// they must agree.
	EvaluationsSemanticProto string `json:"evaluationsSemantic,omitempty"`
	// DryRun answers with no side effect, audited as a check (AuthorizeRequest.DryRun).
	DryRun bool `json:"dryRun,omitempty"`
}

// Values of AuthZENOptions.EvaluationsSemantic.
const (
	ExecuteAll          = "execute_all"
	DenyOnFirstDeny     = "deny_on_first_deny"
	PermitOnFirstPermit = "permit_on_first_permit"
)

// AuthZENEvaluation is one access evaluation request: the body of POST
// /access/v1/evaluation, and one item of an evaluations request.
type AuthZENEvaluation struct {
	Subject  *AuthZENSubject  `json:"subject,omitempty"`
	Action   *AuthZENAction   `json:"action,omitempty"`
	Resource *AuthZENResource `json:"resource,omitempty"`
	Context  *AuthZENContext  `json:"context,omitempty"`
}

// AuthZENEvaluationRequest is the body of POST /access/v1/evaluation.
type AuthZENEvaluationRequest struct {
	AuthZENEvaluation
	Options *AuthZENOptions `json:"options,omitempty"`
}

// AuthZENEvaluationsRequest is the body of POST /access/v1/evaluations: top-level
// subject, action, resource and context are defaults that an item's own members replace.
type AuthZENEvaluationsRequest struct {
	AuthZENEvaluation
	Options     *AuthZENOptions     `json:"options,omitempty"`
	Evaluations []AuthZENEvaluation `json:"evaluations,omitempty"`
}

// AuthZENDecision is the answer to one evaluation.
type AuthZENDecision struct {
	Decision bool                    `json:"decision"`
	Context  *AuthZENDecisionContext `json:"context,omitempty"`
}

// AuthZENDecisionContext carries Kavach's decision beside the boolean. ReasonAdmin and
// ReasonUser are keyed by an HTTP-like status, as the specification frames reasons; Error
// is set instead of a decision for an item of an evaluations request that could not be
// judged.
type AuthZENDecisionContext struct {
	Code        DecisionCode      `json:"code,omitempty"`
	ReasonAdmin map[string]string `json:"reason_admin,omitempty"`
	ReasonUser  map[string]string `json:"reason_user,omitempty"`
	AuditID     string            `json:"auditId,omitempty"`
	Grant       string            `json:"grant,omitempty"`
	Via         []string          `json:"via,omitempty"`
	ApprovalID  string            `json:"approvalId,omitempty"`
	RetryAfter  agent.Duration    `json:"retryAfter,omitempty"`
	Error       *AuthZENItemError `json:"error,omitempty"`
}

// AuthZENItemError is why one item of an evaluations request was not judged.
type AuthZENItemError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// AuthZENEvaluationsResponse is the answer of POST /access/v1/evaluations: one decision
// per evaluated item, in request order.
type AuthZENEvaluationsResponse struct {
	Evaluations []AuthZENDecision `json:"evaluations"`
}

// AuthZENConfiguration is the Policy Decision Point metadata served at
// /.well-known/authzen-configuration (and, for a tenant's PDP, at
// /.well-known/authzen-configuration/tenants/{tenant}). A parameter without a value is
// omitted; Kavach sets neither Capabilities nor SignedMetadata, which other PDPs may.
type AuthZENConfiguration struct {
	PolicyDecisionPoint       string   `json:"policy_decision_point"`
	AccessEvaluationEndpoint  string   `json:"access_evaluation_endpoint"`
	AccessEvaluationsEndpoint string   `json:"access_evaluations_endpoint,omitempty"`
	SearchSubjectEndpoint     string   `json:"search_subject_endpoint,omitempty"`
	SearchResourceEndpoint    string   `json:"search_resource_endpoint,omitempty"`
	SearchActionEndpoint      string   `json:"search_action_endpoint,omitempty"`
	Capabilities              []string `json:"capabilities,omitempty"`
	SignedMetadata            string   `json:"signed_metadata,omitempty"`
}
