package api

import (
	"context"
	"time"

	"github.com/kavachos/kavach-go/agent"
)

// Delegations lets an agent hand a subset of its rights to another agent of the same
// tenant (and the same owner, unless the caller is a tenant admin).
type Delegations interface {
	Delegate(ctx context.Context, req DelegateRequest) (*agent.Delegation, error)
	List(ctx context.Context, req ListDelegationsRequest) (*DelegationList, error)
	Get(ctx context.Context, id string) (*agent.Delegation, error)
	// Revoke ends a delegation; everything delegated through it, at any depth, stops at once.
	Revoke(ctx context.Context, id string) (*agent.Delegation, error)
}

// DelegateRequest describes a delegation. Each permission must be covered by one of the
// from agent's effective grants; MaxDepth defaults to 3.
type DelegateRequest struct {
	FromAgentID string             `json:"fromAgentId"`
	ToAgentID   string             `json:"toAgentId"`
	Permissions []agent.Permission `json:"permissions"`
	MaxDepth    int                `json:"maxDepth,omitempty"`
	ExpiresAt   *time.Time         `json:"expiresAt,omitempty"`
}

// ListDelegationsRequest lists delegations of one agent ("from": given, "to": received,
// "": both) or, without an agent, every delegation the caller may see.
type ListDelegationsRequest struct {
	AgentID   string `json:"agentId,omitempty"`
	Direction string `json:"direction,omitempty"`
}

// DelegationList is a list of delegations, oldest first.
type DelegationList struct {
	Delegations []agent.Delegation `json:"delegations"`
}

// Reasons a delegation is refused, carried in Error.Reason.
const (
	ReasonFromInactive   = "FROM_INACTIVE"
	ReasonToInactive     = "TO_INACTIVE"
	ReasonSelfDelegation = "SELF_DELEGATION"
	ReasonCycle          = "DELEGATION_CYCLE"
	ReasonNotCovered     = "NOT_COVERED"
	ReasonDepthExceeded  = "DEPTH_EXCEEDED"
	ReasonExpiryTooLate  = "EXPIRY_EXCEEDS_PARENT"
	ReasonCrossTenant    = "CROSS_TENANT"
	ReasonOtherOwner     = "OTHER_OWNER"
)
