package agent

import "time"

// PrefixAPIKeyID starts the id of an API key. The id names a key in listings and in the
// revoke route; the secret itself ("kva_…") is shown once, at creation.
const PrefixAPIKeyID = "key_"

// APIKey is a caller credential for the HTTP API. It carries a role ("root", "admin", "app"
// or "user"), the tenant it acts in (empty for root) and, for a user key, the owner it acts
// as. Only the SHA-256 of the secret is stored, with a display prefix.
type APIKey struct {
	ID        string     `json:"id"`
	TenantID  string     `json:"tenantId,omitempty"`
	OwnerID   string     `json:"ownerId,omitempty"`
	Role      string     `json:"role"`
	Name      string     `json:"name,omitempty"`
	Prefix    string     `json:"prefix"`
	CreatedBy string     `json:"createdBy,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// Revoked reports whether the key has been revoked. Revocation is final.
func (k *APIKey) Revoked() bool { return k.RevokedAt != nil }
