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
