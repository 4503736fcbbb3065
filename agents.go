package kavach

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
)

type agentService struct{ k *Kavach }

func (s *agentService) Create(ctx context.Context, req api.CreateAgentRequest) (*api.AgentWithToken, error) {
	act, err := manager(ctx)
	if err != nil {
		return nil, err
	}
	tenant, err := tenantFor(act, req.TenantID)
	if err != nil {
		return nil, err
	}
	owner := req.OwnerID
	if act.Role == api.RoleUser {
		if owner == "" {
			owner = act.OwnerID
		} else if owner != act.OwnerID {
			return nil, api.Errorf(api.CodeForbidden, "a user may create agents only for itself")
		}
	}
	typ := req.Type
	if typ == "" {
		typ = agent.TypeAutonomous
	}
	now := s.k.clock()
	for i, p := range req.Permissions {
		if p.ID != "" {
			return nil, invalidField(fmt.Sprintf("permissions[%d].id", i), "permission ids are assigned by Kavach")
		}
	}
	if err := checkExpiry(req.ExpiresAt, now); err != nil {
		return nil, err
	}
	perms := clonePermissions(req.Permissions)
	agent.AssignPermissionIDs(nil, perms)
	token := agent.MintToken()
	a := &agent.Agent{
		ID: agent.NewID(agent.PrefixAgent), TenantID: tenant, OwnerID: owner, Name: req.Name,
		Type: typ, Status: agent.StatusActive, TokenPrefix: agent.DisplayPrefix(token),
		ExpiresAt: truncate(req.ExpiresAt), Permissions: perms, Metadata: req.Metadata,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := a.Validate(); err != nil {
		return nil, apiError(err)
	}
	e := s.k.manage(act, "agent.create", a.TenantID, a.ID, a.OwnerID, a.ID, map[string]any{"after": agentSummary(a)})
	if err := s.k.store.CreateAgent(store.WithAudit(ctx, e), a, agent.HashToken(token)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalidField("tenantId", "tenant %q does not exist", tenant)
		}
		return nil, apiError(err)
	}
	s.k.managed(e)
	if err := s.k.sync(ctx, a); err != nil {
		return nil, apiError(err)
	}
	return &api.AgentWithToken{Agent: *a, Token: token}, nil
}

func (s *agentService) Get(ctx context.Context, id string) (*agent.Agent, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.visible(ctx, act, id)
}

// visible loads an agent the actor may see, or reports it as not found.
func (s *agentService) visible(ctx context.Context, act api.Actor, id string) (*agent.Agent, error) {
	a, err := s.k.store.GetAgent(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !canSee(act, a)) {
		return nil, notFound(id)
	}
	return a, apiError(err)
}

func (s *agentService) List(ctx context.Context, req api.ListAgentsRequest) (*api.AgentList, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	tenant, err := tenantFor(act, req.TenantID)
	if err != nil {
		return nil, err
	}
	owner := req.OwnerID
	if act.Role == api.RoleUser {
		if owner != "" && owner != act.OwnerID {
			return nil, api.Errorf(api.CodeForbidden, "a user may list only its own agents")
		}
		owner = act.OwnerID
	}
	if req.Status != "" && !req.Status.Valid() {
		return nil, invalidField("status", "%q is not active or revoked", req.Status)
	}
	if req.Limit < 0 || req.Limit > api.MaxLimit {
		return nil, invalidField("limit", "must be between 1 and %d", api.MaxLimit)
	}
	list, next, err := s.k.store.ListAgents(ctx, store.AgentFilter{
		TenantID: tenant, OwnerID: owner, Status: req.Status, Limit: req.Limit, Cursor: req.Cursor,
	})
	if err != nil {
		return nil, apiError(err)
	}
	out := &api.AgentList{Agents: make([]agent.Agent, len(list)), NextCursor: next}
	for i, a := range list {
		out.Agents[i] = *a
	}
	return out, nil
}

func (s *agentService) Update(ctx context.Context, id string, req api.UpdateAgentRequest) (*agent.Agent, error) {
	act, err := manager(ctx)
	if err != nil {
		return nil, err
	}
	now := s.k.clock()
	if err := checkExpiry(req.ExpiresAt, now); err != nil {
		return nil, err
	}
	e := s.k.manage(act, "agent.update", "", id, "", id, nil)
	a, err := s.k.store.UpdateAgent(store.WithAudit(ctx, e), id, func(a *agent.Agent) error {
		if !canSee(act, a) {
			return notFound(id)
		}
		if a.Status != agent.StatusActive {
			return api.Errorf(api.CodeConflict, "agent %s is revoked and cannot change", id)
		}
		before := agentSummary(a)
		if req.Name != nil {
			a.Name = *req.Name
		}
		if req.ExpiresAt != nil {
			a.ExpiresAt = truncate(req.ExpiresAt)
		}
		if req.Metadata != nil {
			a.Metadata = *req.Metadata
		}
		if req.Permissions != nil {
			next := clonePermissions(*req.Permissions)
			if err := checkKnownIDs(a.Permissions, next); err != nil {
				return err
			}
			agent.AssignPermissionIDs(a.Permissions, next)
			a.Permissions = next
		}
		a.UpdatedAt = now
		if err := a.Validate(); err != nil {
			return err
		}
		e.TenantID, e.OwnerID = a.TenantID, a.OwnerID
		e.Arguments = map[string]any{"before": before, "after": agentSummary(a)}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, apiError(err)
	}
	s.k.managed(e)
	if err := s.k.sync(ctx, a); err != nil {
		return nil, apiError(err)
	}
	return a, nil
}

func (s *agentService) Rotate(ctx context.Context, id string, req api.RotateRequest) (*api.RotateResult, error) {
	act, err := manager(ctx)
	if err != nil {
		return nil, err
	}
	grace := req.GracePeriod.D()
	if grace < 0 || grace > api.MaxGracePeriod {
		return nil, invalidField("gracePeriod", "must be between 0 and %s", api.MaxGracePeriod)
	}
	a, err := s.visible(ctx, act, id)
	if err != nil {
		return nil, err
	}
	if a.Status != agent.StatusActive {
		return nil, api.Errorf(api.CodeConflict, "agent %s is revoked: its token cannot be rotated", id)
	}
	now := s.k.clock()
	var until time.Time
	if grace > 0 {
		until = now.Add(grace)
	}
	token := agent.MintToken()
	prefix := agent.DisplayPrefix(token)
	e := s.k.manage(act, "agent.rotate", a.TenantID, a.ID, a.OwnerID, a.ID,
		map[string]any{"gracePeriod": req.GracePeriod.String(), "tokenPrefix": prefix})
	a, err = s.k.store.RotateToken(store.WithAudit(ctx, e), id, agent.HashToken(token), prefix, until, now)
	s.k.forgetTokens(id) // even after an error: the rotation may have committed
	if err != nil {
		return nil, apiError(err)
	}
	s.k.managed(e)
	return &api.RotateResult{Agent: *a, Token: token}, nil
}

func (s *agentService) Revoke(ctx context.Context, id string) (*agent.Agent, error) {
	act, err := manager(ctx)
	if err != nil {
		return nil, err
	}
	now := s.k.clock()
	e := s.k.manage(act, "agent.revoke", "", id, "", id, nil)
	a, err := s.k.store.UpdateAgent(store.WithAudit(ctx, e), id, func(a *agent.Agent) error {
		if !canSee(act, a) {
			return notFound(id)
		}
		if a.Status != agent.StatusRevoked { // revoking twice is not an error
			a.Status, a.UpdatedAt = agent.StatusRevoked, now
		}
		e.TenantID, e.OwnerID = a.TenantID, a.OwnerID
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, apiError(err)
	}
	s.k.managed(e)
	if err := s.k.sync(ctx, a); err != nil {
		return nil, apiError(err)
	}
	return a, nil
}

func (s *agentService) ValidateToken(ctx context.Context, token string) (*agent.Agent, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	invalid := &api.Error{Code: api.CodeUnauthenticated, Reason: string(api.TokenInvalid), Message: "token is not valid"}
	if !agent.WellFormedToken(token) {
		return nil, invalid
	}
	hash := agent.HashToken(token)
	a, _, err := s.k.store.AgentByTokenHash(ctx, hash, s.k.clock())
	if errors.Is(err, store.ErrNotFound) || (err == nil && !canSee(act, a)) {
		return nil, invalid
	}
	if err != nil {
		return nil, apiError(err)
	}
	switch a.Usable(s.k.clock()) {
	case agent.ErrRevoked:
		return nil, &api.Error{Code: api.CodeUnauthenticated, Reason: string(api.AgentRevoked), Message: "agent " + a.ID + " is revoked"}
	case agent.ErrExpired:
		return nil, &api.Error{Code: api.CodeUnauthenticated, Reason: string(api.AgentExpired), Message: "agent " + a.ID + " has expired"}
	}
	return a, nil
}

// checkExpiry rejects an expiry that is not in the future.
func checkExpiry(t *time.Time, now time.Time) error {
	if t != nil && !t.After(now) {
		return invalidField("expiresAt", "%s is not in the future", t.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkKnownIDs rejects permission ids that the agent does not have: an id can only be
// kept, never invented.
func checkKnownIDs(prev, next []agent.Permission) error {
	known := make(map[string]bool, len(prev))
	for _, p := range prev {
		known[p.ID] = true
	}
	for i, p := range next {
		if p.ID != "" && !known[p.ID] {
			return invalidField(fmt.Sprintf("permissions[%d].id", i), "%q is not one of this agent's permissions", p.ID)
		}
	}
	return nil
}

func clonePermissions(ps []agent.Permission) []agent.Permission {
	out := make([]agent.Permission, len(ps))
	for i, p := range ps {
		out[i] = p.Clone()
	}
	return out
}

func truncate(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}
