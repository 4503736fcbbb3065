package api

import (
	"time"

	"github.com/kavachos/kavach-go/agent"
)

// Capabilities is what an agent may do: its effective grants, its own permissions and the
// delegated grants still covered, in a stable order (own permissions in their stored
// order, then delegated grants by delegation). A revoked or expired agent has none.
// Whether a call is allowed still depends on its arguments, address, time, approvals, rate
// and any custom rule: this lists what could be allowed, not what will be.
type Capabilities struct {
	AgentID      string       `json:"agentId"`
	Status       agent.Status `json:"status"`
	Capabilities []Capability `json:"capabilities"`
}

// Capability is one effective grant: a resource pattern, actions and the constraints that
// must hold.
type Capability struct {
	// Grant is the permission id a decision through this grant reports.
	Grant    string   `json:"grant"`
	Resource string   `json:"resource"`
	Actions  []string `json:"actions"`
	// Via is the delegation chain, root first; empty for the agent's own permission.
	Via []string `json:"via,omitempty"`
	// ExpiresAt is when a delegated grant's chain ends.
	ExpiresAt   *time.Time             `json:"expiresAt,omitempty"`
	Constraints *CapabilityConstraints `json:"constraints,omitempty"`
}

// CapabilityConstraints summarises a grant's constraints. A delegated grant carries those
// of every grant up its chain: each list has one entry per level that sets it, and all
// must hold.
type CapabilityConstraints struct {
	// IPAllowlist: the client address must be in every list.
	IPAllowlist [][]string `json:"ipAllowlist,omitempty"`
	// TimeWindows: the time must fall in some window of every set.
	TimeWindows [][]agent.TimeWindow `json:"timeWindows,omitempty"`
	// ArgumentPatterns: each named argument must match every pattern listed for it.
	ArgumentPatterns map[string][]string `json:"argumentPatterns,omitempty"`
	// RateLimit: every limit up the chain is charged.
	RateLimit []agent.RateLimit `json:"rateLimit,omitempty"`
	// Approval: a human approval is required first.
	Approval *agent.Approval `json:"approval,omitempty"`
}
