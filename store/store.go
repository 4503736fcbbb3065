// Package store defines Kavach's persistence as a few small interfaces. Backends live in
// store/sqlite (the embedded default) and store/postgres; store/storetest is the one
// conformance suite both must pass.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/kavachos/kavach-go/agent"
)

// Errors every backend returns, wrapped with detail. Test them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Store is everything a backend provides.
type Store interface {
	AgentStore
	TenantStore
	DelegationStore
	ApprovalStore
	RateStore
	AuditStore
	// Migrate brings the schema up to date and returns how many migrations it applied.
	Migrate(ctx context.Context) (int, error)
	Close() error
}

// AgentStore persists agents and their token hashes. Tokens themselves never reach it.
type AgentStore interface {
	// CreateAgent stores a new agent with the hash of its first token. A duplicate id or
	// token hash is ErrConflict; an unknown tenant is ErrNotFound.
	CreateAgent(ctx context.Context, a *agent.Agent, tokenHash string) error
	GetAgent(ctx context.Context, id string) (*agent.Agent, error)
	// AgentByTokenHash finds the agent holding a token that is still valid at now
	// (a rotated-out token is valid until its grace period ends).
	AgentByTokenHash(ctx context.Context, hash string, now time.Time) (*agent.Agent, error)
	ListAgents(ctx context.Context, f AgentFilter) (agents []*agent.Agent, next string, err error)
	// AllAgents calls fn for every agent of every tenant, in id order, streaming: it is how
	// the engine compiles its data at start-up. An error from fn stops the walk.
	AllAgents(ctx context.Context, fn func(*agent.Agent) error) error
	// UpdateAgent reads the agent, applies fn and writes the result, atomically: concurrent
	// updates never lose each other's changes. If fn fails, nothing is written.
	UpdateAgent(ctx context.Context, id string, fn func(*agent.Agent) error) (*agent.Agent, error)
	// RotateToken makes newHash the agent's token and sets its token prefix. Earlier tokens
	// stay valid until graceUntil, or stop at once when graceUntil is zero.
	RotateToken(ctx context.Context, id, newHash, newPrefix string, graceUntil, now time.Time) (*agent.Agent, error)
}

// AgentFilter selects agents for a listing. Results are ordered by id (creation order);
// Cursor continues after the last agent of the previous page.
type AgentFilter struct {
	TenantID string // required
	OwnerID  string
	Status   agent.Status
	Limit    int
	Cursor   string
}

// TenantStore persists tenants.
type TenantStore interface {
	CreateTenant(ctx context.Context, t *agent.Tenant) error
	GetTenant(ctx context.Context, id string) (*agent.Tenant, error)
	ListTenants(ctx context.Context) ([]agent.Tenant, error)
}

// ApprovalStore persists human-approval requests.
type ApprovalStore interface {
	// OpenApproval returns the live pending request with r's key, or stores r as a new
	// one, atomically: concurrent callers of the same key get the same request. created
	// says which. Pending requests past their expiry do not count (they are stored as
	// expired from then on). r must be pending.
	OpenApproval(ctx context.Context, r *agent.ApprovalRequest, now time.Time) (req *agent.ApprovalRequest, created bool, err error)
	// LatestApproval returns the most recently created request with the key.
	LatestApproval(ctx context.Context, key string) (*agent.ApprovalRequest, error)
	GetApproval(ctx context.Context, id string) (*agent.ApprovalRequest, error)
	ListApprovals(ctx context.Context, f ApprovalFilter) ([]*agent.ApprovalRequest, error)
	// UpdateApproval reads the request, applies fn and writes the result atomically.
	UpdateApproval(ctx context.Context, id string, fn func(*agent.ApprovalRequest) error) (*agent.ApprovalRequest, error)
}

// ApprovalFilter selects approval requests, newest first. Status matches the status as of
// Now, as agent.ApprovalRequest.EffectiveStatus reports it: "pending" matches only requests
// still pending at Now.
type ApprovalFilter struct {
	TenantID string // required
	AgentID  string
	// Visible, when set, keeps only requests whose owner or one of whose approvers is
	// this owner id.
	Visible string
	Status  agent.ApprovalStatus
	Now     time.Time
	Limit   int
}

// RateLimit is one limit to charge: at most Max calls in any rolling Window, counted under
// Key (agent and permission id). Limits with the same Key share one log, charged once per
// consumption. Max must be at least 1 and Window at least a microsecond.
type RateLimit struct {
	Key    string
	Max    int
	Window time.Duration
}

// Consumption is what an allowed call uses up: one slot of every rate limit and, if
// ApprovalID is set, one use of that approval — all of it or none.
type Consumption struct {
	Now        time.Time
	Limits     []RateLimit
	ApprovalID string
}

// ConsumeResult says whether a consumption went through. When it did not, RetryAfter is
// how long until the exhausted limit has a free slot (zero if the approval was the
// obstacle), and ApprovalGone is set if the approval had no use left.
type ConsumeResult struct {
	OK           bool
	RetryAfter   time.Duration
	ApprovalGone bool
}

// RateStore keeps exact sliding-window rate-limit logs and consumes obligations atomically.
type RateStore interface {
	Consume(ctx context.Context, c Consumption) (ConsumeResult, error)
	// RateRemaining returns, for the most constrained of limits, how many calls are still
	// free at now (math.MaxInt when there are no limits).
	RateRemaining(ctx context.Context, limits []RateLimit, now time.Time) (int, error)
}

// AuditEvent is one recorded decision or management action.
type AuditEvent struct {
	ID         string         `json:"id"`
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
}

// AuditStore is the audit ledger.
type AuditStore interface {
	AppendAudit(ctx context.Context, events ...*AuditEvent) error
	// ListAudit returns a tenant's events, oldest first, optionally for one agent.
	ListAudit(ctx context.Context, tenantID, agentID string, limit int) ([]*AuditEvent, error)
}

// IsNotFound reports whether err is, or wraps, ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// DelegationStore persists delegations between agents.
type DelegationStore interface {
	// CreateDelegation stores a new delegation. A duplicate id is ErrConflict; an unknown
	// tenant or agent is ErrNotFound.
	CreateDelegation(ctx context.Context, d *agent.Delegation) error
	GetDelegation(ctx context.Context, id string) (*agent.Delegation, error)
	// ListDelegations returns a tenant's delegations, oldest first.
	ListDelegations(ctx context.Context, f DelegationFilter) ([]*agent.Delegation, error)
	// UpdateDelegation reads the delegation, applies fn and writes the result atomically.
	UpdateDelegation(ctx context.Context, id string, fn func(*agent.Delegation) error) (*agent.Delegation, error)
	// AllDelegations calls fn for every delegation with status active, of every tenant, in
	// id order, streaming. An error from fn stops the walk.
	AllDelegations(ctx context.Context, fn func(*agent.Delegation) error) error
}

// Delegation directions for DelegationFilter.
const (
	DirectionFrom = "from" // delegations the agent gave
	DirectionTo   = "to"   // delegations the agent received
)

// DelegationFilter selects delegations. With AgentID set, Direction "from" or "to" picks
// one side and "" either side.
type DelegationFilter struct {
	TenantID  string // required
	AgentID   string
	Direction string
	Status    agent.DelegationStatus // stored status; "" for any
	Limit     int
}
