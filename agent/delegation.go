package agent

import (
	"slices"
	"strings"
	"time"
)

// PrefixDelegation starts delegation ids.
const PrefixDelegation = "dlg_"

// DefaultMaxDepth is the longest chain a delegation allows when it names no maxDepth.
const DefaultMaxDepth = 3

// MaxDelegationDepth bounds maxDepth.
const MaxDelegationDepth = 16

// DelegationStatus is a delegation's state. Revocation is final; expiry is derived.
type DelegationStatus string

// Delegation statuses.
const (
	DelegationActive  DelegationStatus = "active"
	DelegationRevoked DelegationStatus = "revoked"
	DelegationExpired DelegationStatus = "expired"
)

// Delegation hands a subset of one agent's rights to another. Each delegated permission is
// covered by at least one of the parent's effective grants; the child gets one grant per
// covering parent grant, carrying the parent's constraints as well as its own.
type Delegation struct {
	ID          string           `json:"id"`
	TenantID    string           `json:"tenantId"`
	FromAgentID string           `json:"fromAgentId"`
	ToAgentID   string           `json:"toAgentId"`
	Permissions []Permission     `json:"permissions"`
	Depth       int              `json:"depth"`
	MaxDepth    int              `json:"maxDepth"`
	ExpiresAt   *time.Time       `json:"expiresAt,omitempty"`
	Status      DelegationStatus `json:"status"`
	CreatedBy   string           `json:"createdBy,omitempty"`
	CreatedAt   time.Time        `json:"createdAt"`
	RevokedAt   *time.Time       `json:"revokedAt,omitempty"`
}

// EffectiveStatus reports expired for an active delegation past its expiry.
func (d *Delegation) EffectiveStatus(now time.Time) DelegationStatus {
	if d.Status == DelegationActive && d.ExpiresAt != nil && !now.Before(*d.ExpiresAt) {
		return DelegationExpired
	}
	return d.Status
}

// ContainsPattern reports whether every resource that child matches is also matched by
// parent, under the segment rules of MatchResource. "mcp:github:repos" is inside
// "mcp:github:*"; "mcp:*" is not (it also matches "mcp:slack:x").
func ContainsPattern(parent, child string) bool {
	ps, pTail := splitTail(parent)
	cs, cTail := splitTail(child)
	if pTail {
		// The parent needs more than len(ps) segments; the child must guarantee that.
		if cTail && len(cs) < len(ps) || !cTail && len(cs) <= len(ps) {
			return false
		}
	} else if cTail || len(cs) != len(ps) {
		return false
	}
	for i, p := range ps {
		if p != "*" && (cs[i] == "*" || cs[i] != p) {
			return false
		}
	}
	return true
}

func splitTail(pattern string) ([]string, bool) {
	segs := strings.Split(pattern, ":")
	if segs[len(segs)-1] == "*" {
		return segs[:len(segs)-1], true
	}
	return segs, false
}

// ContainsActions reports whether the child's actions are a subset of the parent's.
func ContainsActions(parent, child []string) bool {
	if slices.Contains(parent, "*") {
		return true
	}
	for _, a := range child {
		if a == "*" || !slices.Contains(parent, a) {
			return false
		}
	}
	return true
}
