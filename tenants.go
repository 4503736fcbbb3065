package kavach

import (
	"context"
	"errors"
	"regexp"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
)

type tenantService struct{ k *Kavach }

// Tenant ids are short lower-case slugs: they appear in URLs, logs and Kafka keys.
var tenantID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (s *tenantService) Create(ctx context.Context, req api.CreateTenantRequest) (*agent.Tenant, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.Role != api.RoleRoot {
		return nil, api.Errorf(api.CodeForbidden, "only a root caller may create tenants")
	}
	if !tenantID.MatchString(req.ID) {
		return nil, invalidField("id", "must be 1 to 63 of a-z, 0-9, '-' and '_', starting with a letter or digit")
	}
	name := req.Name
	if name == "" {
		name = req.ID
	}
	if err := agent.ValidateName("name", name); err != nil {
		return nil, apiError(err)
	}
	t := &agent.Tenant{ID: req.ID, Name: name, CreatedAt: s.k.clock()}
	e := s.k.manage(act, "tenant.create", t.ID, "", "", t.ID, map[string]any{"name": t.Name})
	if err := s.k.store.CreateTenant(store.WithAudit(ctx, e), t); err != nil {
		return nil, apiError(err)
	}
	s.k.managed(e)
	return t, nil
}

func (s *tenantService) Get(ctx context.Context, id string) (*agent.Tenant, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.Role != api.RoleRoot && act.TenantID != id {
		return nil, api.Errorf(api.CodeNotFound, "tenant %s not found", id)
	}
	t, err := s.k.store.GetTenant(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.Errorf(api.CodeNotFound, "tenant %s not found", id)
	}
	return t, apiError(err)
}

func (s *tenantService) List(ctx context.Context) ([]agent.Tenant, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.Role != api.RoleRoot {
		t, err := s.Get(ctx, act.TenantID)
		if err != nil {
			return nil, err
		}
		return []agent.Tenant{*t}, nil
	}
	list, err := s.k.store.ListTenants(ctx)
	return list, apiError(err)
}
