// Package agent holds Kavach's domain types — agents, their permissions and constraints —
// together with validation, identifiers and bearer tokens. It imports nothing of Kavach's, so
// every other package, the HTTP client included, can share it.
package agent

import (
	"time"
)

// Type says how an agent came to be.
type Type string

// Agent types.
const (
	TypeAutonomous Type = "autonomous"
	TypeDelegated  Type = "delegated"
	TypeService    Type = "service"
)

// Valid reports whether t is a known agent type.
func (t Type) Valid() bool {
	switch t {
	case TypeAutonomous, TypeDelegated, TypeService:
		return true
	}
	return false
}

// Status is an agent's lifecycle state. Revocation is final.
type Status string

// Agent statuses.
const (
	StatusActive  Status = "active"
	StatusRevoked Status = "revoked"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == StatusActive || s == StatusRevoked }

// Agent is an AI agent's identity and the rights it holds. The bearer token is never part of
// it: only its hash is stored, and only its display prefix is shown.
type Agent struct {
	ID          string            `json:"id"`
	TenantID    string            `json:"tenantId"`
	OwnerID     string            `json:"ownerId"`
	Name        string            `json:"name"`
	Type        Type              `json:"type"`
	Status      Status            `json:"status"`
	TokenPrefix string            `json:"tokenPrefix"`
	ExpiresAt   *time.Time        `json:"expiresAt,omitempty"`
	Permissions []Permission      `json:"permissions"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	CreatedAt   time.Time         `json:"createdAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
}

// Expired reports whether the agent's expiry has passed at now. An agent without an expiry
// never expires.
func (a *Agent) Expired(now time.Time) bool {
	return a.ExpiresAt != nil && !now.Before(*a.ExpiresAt)
}

// Usable returns nil when the agent may act at now, or ErrRevoked or ErrExpired.
// Revocation is reported before expiry: it is the stronger, permanent state.
func (a *Agent) Usable(now time.Time) error {
	if a.Status != StatusActive {
		return ErrRevoked
	}
	if a.Expired(now) {
		return ErrExpired
	}
	return nil
}

// Clone returns a deep copy, so callers can change it without touching shared state.
func (a *Agent) Clone() *Agent {
	c := *a
	if a.ExpiresAt != nil {
		t := *a.ExpiresAt
		c.ExpiresAt = &t
	}
	c.Permissions = make([]Permission, len(a.Permissions))
	for i, p := range a.Permissions {
		c.Permissions[i] = p.Clone()
	}
	if a.Metadata != nil {
		c.Metadata = make(map[string]string, len(a.Metadata))
		for k, v := range a.Metadata {
			c.Metadata[k] = v
		}
	}
	return &c
}

// Tenant is the top-level partition: every object belongs to exactly one. A "default"
// tenant always exists.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// DefaultTenant is the tenant that exists from the first start.
const DefaultTenant = "default"
