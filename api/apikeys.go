package api

import (
	"context"

	"github.com/kavachos/kavach-go/agent"
)

// APIKeys manages the keys ("kva_…") that callers of the HTTP API present. Only root
// creates root keys; an admin manages the keys of its own tenant; app and user callers
// create none. The secret is returned once, by Create; listings never carry it.
type APIKeys interface {
	Create(ctx context.Context, req CreateAPIKeyRequest) (*APIKeyWithSecret, error)
	List(ctx context.Context, req ListAPIKeysRequest) (*APIKeyList, error)
	// Revoke disables a key for good; revoking twice is not an error.
	Revoke(ctx context.Context, id string) (*agent.APIKey, error)
}

// CreateAPIKeyRequest describes a new key. TenantID defaults to the caller's tenant (the
// default tenant for root) and must be empty for a root key; OwnerID is required for a user
// key and refused for any other.
type CreateAPIKeyRequest struct {
	Role     Role   `json:"role"`
	TenantID string `json:"tenantId,omitempty"`
	OwnerID  string `json:"ownerId,omitempty"`
	Name     string `json:"name,omitempty"`
}

// APIKeyWithSecret is a new key together with its secret, which is shown only here.
type APIKeyWithSecret struct {
	agent.APIKey
	Key string `json:"key"`
}

// ListAPIKeysRequest filters a listing. Root lists every tenant's keys unless TenantID
// narrows it; an admin lists its tenant's; a user lists its own.
type ListAPIKeysRequest struct {
	TenantID string `json:"tenantId,omitempty"`
	OwnerID  string `json:"ownerId,omitempty"`
}

// APIKeyList is a list of keys, oldest first, without secrets.
type APIKeyList struct {
	Keys []agent.APIKey `json:"keys"`
}
