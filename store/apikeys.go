package store

import (
	"context"
	"time"

	"github.com/kavachos/kavach-go/agent"
)

// APIKeyStore persists API keys by the SHA-256 of their secret; the secret never reaches it.
type APIKeyStore interface {
	// CreateAPIKey stores a new key. A duplicate id or hash is ErrConflict; an unknown
	// tenant is ErrNotFound. A key with an empty TenantID (root) belongs to no tenant.
	CreateAPIKey(ctx context.Context, k *agent.APIKey, hash string) error
	// BootstrapAPIKey stores k only if no API key exists yet, revoked ones included, and
	// reports whether it did. Instances starting together on one database store at most
	// one bootstrap key between them.
	BootstrapAPIKey(ctx context.Context, k *agent.APIKey, hash string) (created bool, err error)
	GetAPIKey(ctx context.Context, id string) (*agent.APIKey, error)
	// APIKeyByHash finds a key, revoked or not, by the hash of its secret.
	APIKeyByHash(ctx context.Context, hash string) (*agent.APIKey, error)
	// ListAPIKeys returns keys in id (creation) order.
	ListAPIKeys(ctx context.Context, f APIKeyFilter) ([]*agent.APIKey, error)
	// RevokeAPIKey marks a key revoked at at. Revoking a revoked key keeps the first time.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) (*agent.APIKey, error)
}

// APIKeyFilter selects API keys. TenantID picks one tenant's keys, and "" the keys of no
// tenant (root keys), unless AllTenants is set: an empty TenantID can never widen a listing
// by accident. OwnerID, when set, keeps one owner's keys.
type APIKeyFilter struct {
	TenantID   string
	AllTenants bool
	OwnerID    string
	Limit      int
}
