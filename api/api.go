// Package api is the one interface to Kavach and its request and response types. The
// embedded SDK, the HTTP client, the CLI and the framework adapters all speak it, so code
// written against api.Kavach runs in-process or remotely without change. It imports only
// agent/.
package api

import (
	"context"
	"time"

	"github.com/kavachos/kavach-go/agent"
)

// Kavach is the whole API.
type Kavach interface {
	Authorizer
	Agents() Agents
	Tenants() Tenants
	Approvals() Approvals
	Delegations() Delegations
	APIKeys() APIKeys
	Audit() Audit
	// PolicyStatus reports the active policy revision.
	PolicyStatus(ctx context.Context) (*PolicyStatus, error)
}

// Authorizer decides whether an agent may act. Adapters need only this.
type Authorizer interface {
	// Authorize decides for the agent with the given id.
	Authorize(ctx context.Context, agentID string, req AuthorizeRequest, cc CallContext) (*Decision, error)
	// AuthorizeToken decides for the agent holding token; an unknown token is a
	// TOKEN_INVALID decision.
	AuthorizeToken(ctx context.Context, token string, req AuthorizeRequest, cc CallContext) (*Decision, error)
}

// Approvals lists and decides human-approval requests. The agent's owner, a tenant admin
// or a listed approver may decide.
type Approvals interface {
	List(ctx context.Context, req ListApprovalsRequest) (*ApprovalList, error)
	Get(ctx context.Context, id string) (*agent.ApprovalRequest, error)
	Approve(ctx context.Context, id string, req ApproveRequest) (*agent.ApprovalRequest, error)
	Deny(ctx context.Context, id string, req DenyRequest) (*agent.ApprovalRequest, error)
}

// Agents manages agent identities. Every call acts as the Actor in its context.
type Agents interface {
	// Create registers an agent and returns it with its token, which is shown only here
	// and by Rotate.
	Create(ctx context.Context, req CreateAgentRequest) (*AgentWithToken, error)
	Get(ctx context.Context, id string) (*agent.Agent, error)
	List(ctx context.Context, req ListAgentsRequest) (*AgentList, error)
	Update(ctx context.Context, id string, req UpdateAgentRequest) (*agent.Agent, error)
	// Rotate issues a new token. The old one stops working at once, or after the grace
	// period if one is given.
	Rotate(ctx context.Context, id string, req RotateRequest) (*RotateResult, error)
	// Revoke disables the agent for good.
	Revoke(ctx context.Context, id string) (*agent.Agent, error)
	// ValidateToken returns the agent a token belongs to if the token is current and the
	// agent may act; otherwise an Unauthenticated error whose Reason is TOKEN_INVALID,
	// AGENT_REVOKED or AGENT_EXPIRED.
	ValidateToken(ctx context.Context, token string) (*agent.Agent, error)
	// Capabilities returns the agent's effective grants: its own permissions and the
	// delegated grants still covered, each with a summary of its constraints. It sees the
	// agents Get sees.
	Capabilities(ctx context.Context, id string) (*Capabilities, error)
}

// Tenants manages tenants; creating one needs the root role.
type Tenants interface {
	Create(ctx context.Context, req CreateTenantRequest) (*agent.Tenant, error)
	Get(ctx context.Context, id string) (*agent.Tenant, error)
	List(ctx context.Context) ([]agent.Tenant, error)
}

// CreateAgentRequest describes a new agent. TenantID defaults to the actor's tenant; OwnerID
// defaults to the actor's owner for a user; Type defaults to autonomous.
type CreateAgentRequest struct {
	TenantID    string             `json:"tenantId,omitempty"`
	OwnerID     string             `json:"ownerId"`
	Name        string             `json:"name"`
	Type        agent.Type         `json:"type,omitempty"`
	ExpiresAt   *time.Time         `json:"expiresAt,omitempty"`
	Permissions []agent.Permission `json:"permissions"`
	Metadata    map[string]string  `json:"metadata,omitempty"`
}

// AgentWithToken is an agent together with its freshly minted token.
type AgentWithToken struct {
	agent.Agent
	Token string `json:"token"`
}

// ListAgentsRequest filters and pages a listing. Results come in creation order.
type ListAgentsRequest struct {
	TenantID string       `json:"tenantId,omitempty"`
	OwnerID  string       `json:"ownerId,omitempty"`
	Status   agent.Status `json:"status,omitempty"`
	Limit    int          `json:"limit,omitempty"`
	Cursor   string       `json:"cursor,omitempty"`
}

// Page size limits for listings.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// AgentList is one page of agents; NextCursor is empty on the last page.
type AgentList struct {
	Agents     []agent.Agent `json:"agents"`
	NextCursor string        `json:"nextCursor,omitempty"`
}

// UpdateAgentRequest changes the fields that are set. Permissions replace the whole list;
// a permission keeps its id when its resource and actions are unchanged.
type UpdateAgentRequest struct {
	Name        *string             `json:"name,omitempty"`
	Permissions *[]agent.Permission `json:"permissions,omitempty"`
	ExpiresAt   *time.Time          `json:"expiresAt,omitempty"`
	Metadata    *map[string]string  `json:"metadata,omitempty"`
}

// RotateRequest asks for a new token; the old one stays valid for GracePeriod (default 0).
type RotateRequest struct {
	GracePeriod agent.Duration `json:"gracePeriod,omitempty"`
}

// MaxGracePeriod bounds how long a rotated-out token may stay valid.
const MaxGracePeriod = 7 * 24 * time.Hour

// RotateResult is the agent after rotation and its new token.
type RotateResult struct {
	Agent agent.Agent `json:"agent"`
	Token string      `json:"token"`
}

// CreateTenantRequest describes a new tenant.
type CreateTenantRequest struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}
