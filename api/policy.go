package api

import "time"

// PolicyStatus describes the active policy revision and the last one refused.
type PolicyStatus struct {
	// Revision stamps every audit event decided under it.
	Revision    string    `json:"revision"`
	Source      string    `json:"source,omitempty"`
	ActivatedAt time.Time `json:"activatedAt"`
	// LastError is why the most recent refused revision was refused; the active revision
	// stayed in force.
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	Activations int64     `json:"activations"`
	Rejections  int64     `json:"rejections"`
	// BundleLoaded is false while a configured bundle has not yet been activated.
	BundleLoaded bool `json:"bundleLoaded"`
	// Shadow is the shadow revision's record, when one is loaded.
	Shadow *ShadowStatus `json:"shadow,omitempty"`
}

// ShadowStatus describes the shadow revision: a candidate evaluated beside the active one
// on a sample of traffic, off the request path. It never changes an answer.
type ShadowStatus struct {
	Revision string  `json:"revision"`
	Sample   float64 `json:"sample"`
	// Evaluated counts sampled calls the shadow decided; Disagreed those where its code
	// differed from the active revision's; Dropped those offered to a full queue; Errors
	// those it failed to evaluate.
	Evaluated int64 `json:"evaluated"`
	Disagreed int64 `json:"disagreed"`
	Dropped   int64 `json:"dropped"`
	Errors    int64 `json:"errors"`
	// ByCodes counts disagreements by (active code, shadow code).
	ByCodes []ShadowCount `json:"byCodes"`
	// Examples are recent disagreements, newest first, at most one a second for each pair
	// of codes; a caller sees only its own tenant's (a user only its own agents').
	Examples []ShadowDisagreement `json:"examples"`
}

// ShadowCount is how often the active revision answered Active where the shadow answered
// Shadow.
type ShadowCount struct {
	Active DecisionCode `json:"active"`
	Shadow DecisionCode `json:"shadow"`
	Count  int64        `json:"count"`
}

// ShadowDisagreement is one call the two revisions answered differently.
type ShadowDisagreement struct {
	Time           time.Time    `json:"time"`
	TenantID       string       `json:"tenantId,omitempty"`
	OwnerID        string       `json:"ownerId,omitempty"`
	AgentID        string       `json:"agentId"`
	Action         string       `json:"action"`
	Resource       string       `json:"resource"`
	ActiveRevision string       `json:"activeRevision"`
	ActiveCode     DecisionCode `json:"activeCode"`
	ShadowCode     DecisionCode `json:"shadowCode"`
	ShadowReason   string       `json:"shadowReason,omitempty"`
	// Rules are the shadow revision's custom rules that held for the call (file:row: head).
	Rules []string `json:"rules,omitempty"`
}

// ReplayRequest selects the recorded decisions a replay re-decides: a tenant's (every
// tenant the caller may read when empty), since a time or in a seq range (both bounds
// inclusive; seq ranges need a tenant, since each tenant's chain counts on its own).
type ReplayRequest struct {
	TenantID string    `json:"tenantId,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	FromSeq  int64     `json:"fromSeq,omitempty"`
	ToSeq    int64     `json:"toSeq,omitempty"`
	// Limit stops after this many recorded decisions (0: no limit).
	Limit int64 `json:"limit,omitempty"`
	// Top is how many changed groups the report lists (default 10).
	Top int `json:"top,omitempty"`
}

// ReplayReport is what a candidate revision would change on recorded traffic: each
// replayable decision re-decided under the active revision and under the candidate, with
// the agents' current state and the call's recorded time, address and arguments for both.
// Obligations are not carried out, so codes are the policy's: ALLOWED, APPROVAL_REQUIRED
// when only a human approval would let the call through, or a denial.
type ReplayReport struct {
	ActiveRevision    string `json:"activeRevision"`
	CandidateRevision string `json:"candidateRevision"`
	// Read counts the recorded decisions read; Replayed those re-decided, Changed those the
	// two revisions answered differently.
	Read     int64 `json:"read"`
	Replayed int64 `json:"replayed"`
	Changed  int64 `json:"changed"`
	// Matrix counts every replayed decision by (active code, candidate code), changed or not.
	Matrix []ReplayTransition `json:"matrix"`
	// Groups are the largest groups of changed decisions, by (agent, action, resource
	// pattern, codes), with an example.
	Groups []ReplayGroup `json:"groups"`
	// Ungrouped counts changed decisions of groups past the first 10,000 distinct ones: a
	// replay's memory does not grow with the ledger, so they are counted, not grouped.
	Ungrouped int64 `json:"ungrouped,omitempty"`
	// Unreplayable counts the decisions that could not be replayed, by reason.
	Unreplayable []ReplayUnreplayable `json:"unreplayable"`
	// RecordedRevisions counts the replayed decisions by the revision that made them.
	RecordedRevisions []ReplayRevisionCount `json:"recordedRevisions"`
}

// ReplayTransition counts replayed decisions answered From by the active revision and To by
// the candidate.
type ReplayTransition struct {
	From  DecisionCode `json:"from"`
	To    DecisionCode `json:"to"`
	Count int64        `json:"count"`
}

// ReplayGroup is a group of changed decisions. Resource is the resource pattern: the
// resource with its last segment replaced by "*" when it has three or more.
type ReplayGroup struct {
	TenantID string       `json:"tenantId"`
	AgentID  string       `json:"agentId"`
	Action   string       `json:"action"`
	Resource string       `json:"resource"`
	From     DecisionCode `json:"from"`
	To       DecisionCode `json:"to"`
	Count    int64        `json:"count"`
	// Example is the earliest changed decision of the group (its audit id and seq), with the
	// candidate's reason.
	ExampleAuditID string `json:"exampleAuditId"`
	ExampleSeq     int64  `json:"exampleSeq"`
	ExampleReason  string `json:"exampleReason,omitempty"`
	// CandidateRules and ActiveRules are the custom deny and require_approval rules
	// (file:row: head) that held for the example under each revision: the rules that
	// changed the answer.
	CandidateRules []string `json:"candidateRules,omitempty"`
	ActiveRules    []string `json:"activeRules,omitempty"`
}

// ReplayUnreplayable counts decisions that could not be replayed for one reason.
type ReplayUnreplayable struct {
	Reason         string `json:"reason"`
	Count          int64  `json:"count"`
	ExampleAuditID string `json:"exampleAuditId"`
}

// ReplayRevisionCount counts replayed decisions recorded under one revision.
type ReplayRevisionCount struct {
	Revision string `json:"revision"`
	Count    int64  `json:"count"`
}
