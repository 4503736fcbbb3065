package api

// DecisionCode says why an authorization was allowed or denied (DESIGN §3). The string
// values are the wire form.
type DecisionCode string

// Decision codes.
const (
	Allowed            DecisionCode = "ALLOWED"
	AgentNotFound      DecisionCode = "AGENT_NOT_FOUND"
	AgentRevoked       DecisionCode = "AGENT_REVOKED"
	AgentExpired       DecisionCode = "AGENT_EXPIRED"
	TokenInvalid       DecisionCode = "TOKEN_INVALID"
	NoPermission       DecisionCode = "NO_PERMISSION"
	RateLimited        DecisionCode = "RATE_LIMITED"
	OutsideTimeWindow  DecisionCode = "OUTSIDE_TIME_WINDOW"
	IPNotAllowed       DecisionCode = "IP_NOT_ALLOWED"
	ArgumentNotAllowed DecisionCode = "ARGUMENT_NOT_ALLOWED"
	ApprovalRequired   DecisionCode = "APPROVAL_REQUIRED"
	ApprovalDenied     DecisionCode = "APPROVAL_DENIED"
	PolicyDenied       DecisionCode = "POLICY_DENIED"
	EngineError        DecisionCode = "ENGINE_ERROR"
	// PolicyNotLoaded: a policy bundle is configured but no revision of it is active yet
	// (it has not arrived, is unsigned or fails its tests); every decision is denied until
	// one is, rather than made without the operator's rules.
	PolicyNotLoaded DecisionCode = "POLICY_NOT_LOADED"
)
