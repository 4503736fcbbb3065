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

// Store is everything a backend provides. Its writes that make management changes commit
// the audit events attached to their context (WithAudit) in their own transaction.
type Store interface {
	AgentStore
	TenantStore
	DelegationStore
	ApprovalStore
	RateStore
	AuditStore
	RelayStore
	APIKeyStore
	OAuthStore
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
	// AgentByTokenHash finds the agent holding a token that is still valid at now (a
	// rotated-out token is valid until its grace period ends), and when the token stops
	// being valid: the end of its grace period, or zero for the agent's current token.
	AgentByTokenHash(ctx context.Context, hash string, now time.Time) (a *agent.Agent, validUntil time.Time, err error)
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
	// CurrentApproval returns the request that governs the key at now: an approval with
	// uses left first, then a denial still in force, then the most recently created
	// request. A newer pending request never hides a decision already taken.
	CurrentApproval(ctx context.Context, key string, now time.Time) (*agent.ApprovalRequest, error)
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

// AuditEvent is one recorded decision or management action (see agent.AuditEvent).
type AuditEvent = agent.AuditEvent

// AuditStore is the audit ledger: per-tenant hash chains, checkpoints and retention.
type AuditStore interface {
	// AppendAudit gives each event its tenant's next seq, links it to the previous hash
	// and computes its own (ChainHash), in commit order under a per-tenant lock, and
	// writes all events in one transaction: all of them or none.
	AppendAudit(ctx context.Context, events ...*AuditEvent) error
	// StreamAudit calls fn for each event matching q, in q's order, streaming with
	// constant memory. An error from fn stops the walk.
	StreamAudit(ctx context.Context, q AuditQuery, fn func(*AuditEvent) error) error
	// AuditHead returns the last seq and hash of a tenant's chain (0 and "" if empty).
	AuditHead(ctx context.Context, tenantID string) (seq int64, hash string, err error)
	// AuditTenants lists the tenants that have a chain.
	AuditTenants(ctx context.Context) ([]string, error)
	SaveCheckpoint(ctx context.Context, c *AuditCheckpoint) error
	// LatestCheckpoint returns the tenant's checkpoint with the highest seq.
	LatestCheckpoint(ctx context.Context, tenantID string) (*AuditCheckpoint, error)
	// GetCheckpoint returns the tenant's checkpoint at seq.
	GetCheckpoint(ctx context.Context, tenantID string, seq int64) (*AuditCheckpoint, error)
	// PruneAudit deletes a tenant's events with seq below beforeSeq and records where the
	// chain now starts. It never deletes the head.
	PruneAudit(ctx context.Context, tenantID string, beforeSeq int64, now time.Time) (*AuditBase, error)
	// AuditBase returns where retention left a tenant's chain starting (ErrNotFound if
	// nothing was ever pruned).
	AuditBase(ctx context.Context, tenantID string) (*AuditBase, error)
}

// AuditQuery selects events of one tenant. Empty fields do not filter. AfterSeq and
// BeforeSeq bound seq exclusively (0: unbounded), for cursors.
type AuditQuery struct {
	TenantID  string // required
	AgentID   string
	OwnerID   string
	Action    string
	Result    string
	Code      string
	TraceID   string    // the W3C trace id of the request that led to the event
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	AfterSeq  int64
	BeforeSeq int64
	Desc      bool // newest first
	Limit     int  // 0: no limit
}

// AuditCheckpoint is a signed statement of a chain's head at a time.
type AuditCheckpoint struct {
	TenantID  string    `json:"tenantId"`
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	SignedAt  time.Time `json:"signedAt"`
	PublicKey string    `json:"publicKey"` // base64 Ed25519
	Signature string    `json:"signature"` // base64
}

// AuditBase is where a pruned chain starts: the first retained seq and the hash it links to.
type AuditBase struct {
	TenantID string    `json:"tenantId"`
	Seq      int64     `json:"seq"`
	PrevHash string    `json:"prevHash"`
	PrunedAt time.Time `json:"prunedAt"`
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

// Change names one committed change that decisions depend on.
type Change struct {
	Kind string // "agent", "delegation" or "api_key" (a revoked key)
	ID   string
}

// ChangeHandler receives a change feed's events.
type ChangeHandler struct {
	// Synced runs after each (re)connection, once listening: everything committed before it
	// must be reloaded there, since changes made while disconnected were not announced.
	Synced func(ctx context.Context) error
	// Changed runs for each change announced while connected. An error means the change
	// could not be applied: the backend drops the connection, reports Lost, and calls
	// Synced once it is back, so the state is reloaded rather than left stale.
	Changed func(ctx context.Context, c Change) error
	// Lost runs when the connection is lost; Synced follows once it is back.
	Lost func(err error)
}

// ChangeFeed is implemented by stores that several instances or processes share: Postgres
// (instances behind a load balancer) and SQLite (a server and the CLI on one file). It
// announces every committed change to agents (their tokens included), delegations and API
// keys, the ones the same Store made included.
type ChangeFeed interface {
	// WatchChanges listens until ctx ends, reconnecting with back-off.
	WatchChanges(ctx context.Context, h ChangeHandler) error
}

// AgentWithTokenHash is an agent to create with the hash of its first token.
type AgentWithTokenHash struct {
	Agent     *agent.Agent
	TokenHash string
}

// BulkAgentCreator is implemented by stores that create many agents at once, for imports
// and benchmark data sets; callers fall back to CreateAgent one by one without it.
type BulkAgentCreator interface {
	// CreateAgents stores the agents with their first token hashes in one transaction, as
	// CreateAgent stores one: a duplicate id or token hash, in the store or within the
	// batch, is ErrConflict, an unknown tenant ErrNotFound, and either writes nothing.
	// Callers split large imports into batches (a few thousand agents each).
	CreateAgents(ctx context.Context, agents []AgentWithTokenHash) error
}
