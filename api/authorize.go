package api

import (
	"time"

	"github.com/kavachos/kavach-go/agent"
)

// AuthorizeRequest is the call an agent wants to make.
type AuthorizeRequest struct {
	Action   string `json:"action"`
	Resource string `json:"resource"`
	// Arguments are the call's arguments. The audit ledger (and a decision-log export)
	// records them after Authorize returns: an embedded caller must not change the map,
	// or what it holds, once it has passed it.
	Arguments map[string]any `json:"arguments,omitempty"`
	// DryRun answers the same question with no side effect: no rate slot is taken, no
	// approval request is opened. It is audited as a check.
	DryRun bool `json:"dryRun,omitempty"`
}

// CallContext describes where a call comes from. For an app or admin caller, IP is the end
// client's address as the app reports it; for an agent authorizing with its own token over
// HTTP, the server takes it from the connection instead.
type CallContext struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
	// Time asks a dry run about another moment ("would this be allowed at 23:00?"); real
	// calls are always decided at the current time. Only in-process callers can set it.
	Time time.Time `json:"-"`
}

// Decision is Kavach's answer. A denial is a decision, not an error: Allowed says the
// answer and Code says why.
type Decision struct {
	Allowed    bool           `json:"allowed"`
	Code       DecisionCode   `json:"code"`
	Reason     string         `json:"reason"`
	AuditID    string         `json:"auditId"`
	Grant      string         `json:"grant,omitempty"`
	Via        []string       `json:"via,omitempty"`
	ApprovalID string         `json:"approvalId,omitempty"`
	RetryAfter agent.Duration `json:"retryAfter,omitempty"`
}

// Limits on an authorize request (the others are agent's, see agent/limits.go).
const (
	MaxActionLen     = agent.MaxActionLen
	MaxArgumentBytes = 64 << 10
)

// ListApprovalsRequest filters approval requests. Status "pending" (the default) lists only
// requests still waiting; AgentID narrows to one agent.
type ListApprovalsRequest struct {
	Status  agent.ApprovalStatus `json:"status,omitempty"`
	AgentID string               `json:"agentId,omitempty"`
	Limit   int                  `json:"limit,omitempty"`
}

// ApprovalList is a list of approval requests, newest first.
type ApprovalList struct {
	Approvals []agent.ApprovalRequest `json:"approvals"`
}

// ApproveRequest approves a pending request: the call is then allowed Uses times (default 1)
// within TTL (default the permission's approval.ttl).
type ApproveRequest struct {
	Reason string         `json:"reason,omitempty"`
	Uses   int            `json:"uses,omitempty"`
	TTL    agent.Duration `json:"ttl,omitempty"`
}

// DenyRequest denies a pending request: the call yields APPROVAL_DENIED until the request
// would have expired.
type DenyRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Limits on approvals.
const (
	MaxApprovalUses = 1000
	MaxApprovalTTL  = 30 * 24 * time.Hour
)
