package api

import "context"

// Role is what a caller may do (DESIGN §2).
type Role string

// Roles, from most to least powerful.
const (
	RoleRoot  Role = "root"  // every tenant
	RoleAdmin Role = "admin" // one tenant
	RoleApp   Role = "app"   // authorize and read in one tenant
	RoleUser  Role = "user"  // one owner's objects in one tenant
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleRoot, RoleAdmin, RoleApp, RoleUser:
		return true
	}
	return false
}

// Actor is who is calling: a role, the tenant it acts in and, for a user, the owner it is.
type Actor struct {
	TenantID string `json:"tenantId"`
	OwnerID  string `json:"ownerId,omitempty"`
	Role     Role   `json:"role"`
}

// Root is the actor with every right, used by the CLI working directly on a database.
var Root = Actor{Role: RoleRoot}

type actorKey struct{}

// WithActor returns a context that carries a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor carried by ctx, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}
