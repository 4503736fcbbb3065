package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// ApprovalStatus is the state of a human-approval request.
type ApprovalStatus string

// Approval statuses. A pending request past its expiry, or an approved one whose grant
// has lapsed, reads as expired; an approved one whose uses are spent reads as used.
const (
	ApprovalPending  ApprovalStatus = "pending"
	ApprovalApproved ApprovalStatus = "approved"
	ApprovalDenied   ApprovalStatus = "denied"
	ApprovalExpired  ApprovalStatus = "expired"
	ApprovalUsed     ApprovalStatus = "used"
)

// PrefixApproval starts approval request ids.
const PrefixApproval = "apr_"

// ApprovalRequest asks a human whether one exact call may proceed. It is keyed by agent,
// permission, action, resource and the hash of the canonical arguments, so approving
// {branch: "dev"} does not unlock {branch: "main"}.
type ApprovalRequest struct {
	ID           string         `json:"id"`
	TenantID     string         `json:"tenantId"`
	AgentID      string         `json:"agentId"`
	OwnerID      string         `json:"ownerId"`
	PermissionID string         `json:"permissionId"`
	Action       string         `json:"action"`
	Resource     string         `json:"resource"`
	ArgsHash     string         `json:"argumentsHash"`
	Arguments    map[string]any `json:"arguments"`
	Approvers    []string       `json:"approvers,omitempty"`
	// GrantTTL is how long an approval lasts unless the approver says otherwise: the
	// permission's approval.ttl.
	GrantTTL Duration       `json:"-"`
	Status   ApprovalStatus `json:"status"`
	// ExpiresAt ends a pending request; a denial holds until then too.
	ExpiresAt time.Time  `json:"expiresAt"`
	CreatedAt time.Time  `json:"createdAt"`
	DecidedBy string     `json:"decidedBy,omitempty"`
	DecidedAt *time.Time `json:"decidedAt,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	// UsesLeft and GrantExpiresAt describe an approval: how many more calls it allows,
	// and until when.
	UsesLeft       int        `json:"usesLeft,omitempty"`
	GrantExpiresAt *time.Time `json:"grantExpiresAt,omitempty"`
}

// Key returns the request's identity: agent, permission, action, resource, arguments.
func (r *ApprovalRequest) Key() string {
	return ApprovalKey(r.AgentID, r.PermissionID, r.Action, r.Resource, r.ArgsHash)
}

// ApprovalKey joins the parts that identify one gated call.
func ApprovalKey(agentID, permID, action, resource, argsHash string) string {
	sum := sha256.Sum256([]byte(agentID + "\x00" + permID + "\x00" + action + "\x00" + resource + "\x00" + argsHash))
	return hex.EncodeToString(sum[:])
}

// EffectiveStatus is the status as of now, with lapsed requests and spent approvals
// reported as such.
func (r *ApprovalRequest) EffectiveStatus(now time.Time) ApprovalStatus {
	switch r.Status {
	case ApprovalPending:
		if !now.Before(r.ExpiresAt) {
			return ApprovalExpired
		}
	case ApprovalApproved:
		if r.UsesLeft <= 0 {
			return ApprovalUsed
		}
		if r.GrantExpiresAt != nil && !now.Before(*r.GrantExpiresAt) {
			return ApprovalExpired
		}
	case ApprovalDenied:
		if !now.Before(r.ExpiresAt) {
			return ApprovalExpired
		}
	}
	return r.Status
}

// HashArguments returns the SHA-256 of the canonical JSON of args: object keys sorted,
// no insignificant space (encoding/json sorts map keys). nil and empty hash alike.
func HashArguments(args map[string]any) (string, error) {
	if args == nil {
		args = map[string]any{}
	}
	b, err := json.Marshal(args)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
