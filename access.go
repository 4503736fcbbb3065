package kavach

import (
	"context"
	"errors"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
)

// actor returns the caller, failing closed when the context carries none.
func actor(ctx context.Context) (api.Actor, error) {
	a, ok := api.ActorFrom(ctx)
	if !ok || !a.Role.Valid() {
		return api.Actor{}, api.Errorf(api.CodeUnauthenticated, "no caller identity in the request context (use kavach.WithActor)")
	}
	if a.Role != api.RoleRoot && a.TenantID == "" {
		return api.Actor{}, api.Errorf(api.CodeUnauthenticated, "a %s caller must belong to a tenant", a.Role)
	}
	if a.Role == api.RoleUser && a.OwnerID == "" {
		return api.Actor{}, api.Errorf(api.CodeUnauthenticated, "a user caller must name its owner id")
	}
	return a, nil
}

// tenantFor resolves the tenant a call works in: the requested one, else the actor's, else
// the default. Only root may name a tenant other than its own.
func tenantFor(a api.Actor, requested string) (string, error) {
	switch {
	case requested == "" && a.Role == api.RoleRoot:
		return agent.DefaultTenant, nil
	case requested == "":
		return a.TenantID, nil
	case a.Role != api.RoleRoot && requested != a.TenantID:
		return "", api.Errorf(api.CodeForbidden, "a %s caller of tenant %q cannot act in tenant %q", a.Role, a.TenantID, requested)
	}
	return requested, nil
}

// canSee reports whether the actor may read the agent at all. Agents it cannot see are
// reported as not found, so their existence does not leak.
func canSee(a api.Actor, ag *agent.Agent) bool {
	switch a.Role {
	case api.RoleRoot:
		return true
	case api.RoleUser:
		return a.TenantID == ag.TenantID && a.OwnerID == ag.OwnerID
	}
	return a.TenantID == ag.TenantID
}

// manager returns the caller if its role may change agents and delegations.
func manager(ctx context.Context) (api.Actor, error) {
	act, err := actor(ctx)
	if err != nil {
		return act, err
	}
	return act, mayManage(act)
}

// mayManage returns nil if the actor's role may change agents: an app key authorizes and
// reads only.
func mayManage(a api.Actor) error {
	if a.Role == api.RoleApp {
		return api.Errorf(api.CodeForbidden, "an app caller may authorize and read, not manage agents")
	}
	return nil
}

// apiError turns store and validation errors into api errors. Unknown errors become
// internal errors that keep the cause for logs but not in the message.
func apiError(err error) error {
	if err == nil {
		return nil
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return err
	}
	var ve *agent.ValidationError
	switch {
	case errors.As(err, &ve):
		return &api.Error{Code: api.CodeInvalidInput, Field: ve.Field, Message: ve.Error(), Err: err}
	case errors.Is(err, store.ErrInvalidCursor):
		return &api.Error{Code: api.CodeInvalidInput, Field: "cursor", Message: "invalid cursor: pass nextCursor from the previous page", Err: err}
	case errors.Is(err, store.ErrNotFound):
		return &api.Error{Code: api.CodeNotFound, Message: err.Error(), Err: err}
	case errors.Is(err, store.ErrConflict):
		return &api.Error{Code: api.CodeConflict, Message: err.Error(), Err: err}
	}
	return &api.Error{Code: api.CodeInternal, Message: "internal error", Err: err}
}

func notFound(id string) error {
	return api.Errorf(api.CodeNotFound, "agent %s not found", id)
}

func invalidField(field, format string, args ...any) error {
	e := api.Errorf(api.CodeInvalidInput, "invalid "+field+": "+format, args...)
	e.Field = field
	return e
}
