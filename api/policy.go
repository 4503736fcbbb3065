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
