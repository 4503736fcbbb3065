package agent

import "time"

// AuditEvent is one recorded decision or management action. Seq, PrevHash and Hash are
// assigned when the event is appended to the ledger: the event's place in its tenant's hash chain.
type AuditEvent struct {
	ID         string         `json:"id"`
	Seq        int64          `json:"seq"`
	Time       time.Time      `json:"time"`
	TenantID   string         `json:"tenantId"`
	Kind       string         `json:"kind"` // "decision" or "management"
	AgentID    string         `json:"agentId,omitempty"`
	OwnerID    string         `json:"ownerId,omitempty"`
	Actor      string         `json:"actor,omitempty"`
	Action     string         `json:"action"`
	Resource   string         `json:"resource"`
	Arguments  map[string]any `json:"arguments,omitempty"`
	Result     string         `json:"result"`
	Code       string         `json:"code,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	DurationNS int64          `json:"durationNs,omitempty"`
	IP         string         `json:"ip,omitempty"`
	UserAgent  string         `json:"userAgent,omitempty"`
	Grant      string         `json:"grant,omitempty"`
	Via        []string       `json:"via,omitempty"`
	ApprovalID string         `json:"approvalId,omitempty"`
	Revision   string         `json:"revision,omitempty"`
	// TraceID is the W3C trace id (32 hex digits) of the request that led to the event,
	// when the caller sent trace context or Kavach traced the request.
	TraceID  string `json:"traceId,omitempty"`
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`

	// ArgumentsJSON is the exact text of Arguments as stored and hashed ("" for none).
	// Backends set it on write and read; verification hashes it as it is.
	ArgumentsJSON string `json:"-"`
}
