package kavach

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/store"
)

type delegationService struct {
	k *Kavach
	// mu makes the cycle check and the creation one step, so two delegations created at
	// once cannot close a cycle between them.
	mu sync.Mutex
}

// refuse builds the typed error for a refused delegation.
func refuse(code api.ErrorCode, reason, field, format string, args ...any) error {
	return &api.Error{Code: code, Reason: reason, Field: field, Message: fmt.Sprintf(format, args...)}
}

func (s *delegationService) Delegate(ctx context.Context, req api.DelegateRequest) (*agent.Delegation, error) {
	act, err := manager(ctx)
	if err != nil {
		return nil, err
	}
	now := s.k.clock()
	if err := validateDelegateRequest(req, now); err != nil {
		return nil, err
	}
	from, err := s.k.agents.visible(ctx, act, req.FromAgentID)
	if err != nil {
		return nil, err
	}
	to, err := s.k.agents.visible(ctx, act, req.ToAgentID)
	if err != nil {
		return nil, err
	}
	if err := checkParties(act, from, to, now); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.k.engine.Reaches(to.ID, from.ID) {
		return nil, refuse(api.CodeConflict, api.ReasonCycle, "toAgentId", "%s already delegates, directly or through others, to %s: this would close a cycle", to.ID, from.ID)
	}
	maxDepth := req.MaxDepth
	if maxDepth == 0 {
		maxDepth = agent.DefaultMaxDepth
	}
	perms := clonePermissions(req.Permissions)
	agent.AssignPermissionIDs(nil, perms)
	grants, err := s.k.engine.EffectiveGrants(ctx, from)
	if err != nil {
		return nil, apiError(err)
	}
	depth, err := checkCoverage(from, grants, perms, maxDepth, req.ExpiresAt, now)
	if err != nil {
		return nil, err
	}
	d := &agent.Delegation{
		ID: agent.NewID(agent.PrefixDelegation), TenantID: from.TenantID, FromAgentID: from.ID, ToAgentID: to.ID,
		Permissions: perms, Depth: depth, MaxDepth: maxDepth, ExpiresAt: truncate(req.ExpiresAt),
		Status: agent.DelegationActive, CreatedBy: actorName(act), CreatedAt: now,
	}
	e := s.k.manage(act, "delegation.create", d.TenantID, d.ToAgentID, to.OwnerID, d.ID, map[string]any{
		"fromAgentId": d.FromAgentID, "toAgentId": d.ToAgentID, "permissions": len(d.Permissions), "maxDepth": d.MaxDepth})
	if err := s.k.store.CreateDelegation(store.WithAudit(ctx, e), d); err != nil {
		return nil, apiError(err)
	}
	s.k.managed(e)
	if err := s.k.engine.PutDelegation(ctx, d); err != nil {
		return nil, apiError(err)
	}
	return d, nil
}

func validateDelegateRequest(req api.DelegateRequest, now time.Time) error {
	if req.FromAgentID == "" {
		return invalidField("fromAgentId", "must name the delegating agent")
	}
	if req.ToAgentID == "" {
		return invalidField("toAgentId", "must name the receiving agent")
	}
	if req.FromAgentID == req.ToAgentID {
		return refuse(api.CodeInvalidInput, api.ReasonSelfDelegation, "toAgentId", "an agent cannot delegate to itself")
	}
	if len(req.Permissions) == 0 {
		return invalidField("permissions", "must delegate at least one permission")
	}
	for i, p := range req.Permissions {
		if p.ID != "" {
			return invalidField(fmt.Sprintf("permissions[%d].id", i), "permission ids are assigned by Kavach")
		}
	}
	if err := agent.ValidatePermissions("permissions", req.Permissions); err != nil {
		return apiError(err)
	}
	if req.MaxDepth < 0 || req.MaxDepth > agent.MaxDelegationDepth {
		return invalidField("maxDepth", "must be between 1 and %d (default %d)", agent.MaxDelegationDepth, agent.DefaultMaxDepth)
	}
	return checkExpiry(req.ExpiresAt, now)
}

// checkParties enforces who may delegate to whom: both agents usable, one tenant, and one
// owner unless the caller administers the tenant.
func checkParties(act api.Actor, from, to *agent.Agent, now time.Time) error {
	if err := from.Usable(now); err != nil {
		return refuse(api.CodeConflict, api.ReasonFromInactive, "fromAgentId", "%s cannot delegate: %v", from.ID, err)
	}
	if err := to.Usable(now); err != nil {
		return refuse(api.CodeConflict, api.ReasonToInactive, "toAgentId", "%s cannot receive a delegation: %v", to.ID, err)
	}
	if from.TenantID != to.TenantID {
		return refuse(api.CodeInvalidInput, api.ReasonCrossTenant, "toAgentId", "delegations stay within one tenant")
	}
	if from.OwnerID != to.OwnerID && act.Role != api.RoleAdmin && act.Role != api.RoleRoot {
		return refuse(api.CodeForbidden, api.ReasonOtherOwner, "toAgentId", "only a tenant admin may delegate to another owner's agent")
	}
	return nil
}

// checkCoverage finds, for each delegated permission, the parent grants that cover it
// within the depth limits, and checks the expiry against them. It returns the delegation's
// depth: links from the root along its shortest covering chain.
func checkCoverage(from *agent.Agent, grants []engine.Grant, perms []agent.Permission, maxDepth int, expiresAt *time.Time, now time.Time) (int, error) {
	var fromExpires int64
	if from.ExpiresAt != nil {
		fromExpires = from.ExpiresAt.UnixNano()
	}
	depth := 0
	for i, p := range perms {
		field := fmt.Sprintf("permissions[%d]", i)
		covered, best := false, 0
		var latestEnd int64 = -1 // -1: no usable grant yet; 0: one that never ends
		for _, g := range grants {
			if g.ExpiresNS > 0 && g.ExpiresNS <= now.UnixNano() {
				continue // a chain that has ended covers nothing
			}
			if !agent.ContainsPattern(g.Resource, p.Resource) || !agent.ContainsActions(g.Actions, p.Actions) {
				continue
			}
			covered = true
			limit := maxDepth
			if g.MaxDepth > 0 {
				limit = min(limit, g.MaxDepth)
			}
			if g.Depth+1 > limit {
				continue
			}
			if best == 0 || g.Depth+1 < best {
				best = g.Depth + 1
			}
			end := engine.Earliest(g.ExpiresNS, fromExpires)
			if latestEnd != 0 && (end == 0 || end > latestEnd) {
				latestEnd = end
			}
		}
		switch {
		case !covered:
			return 0, refuse(api.CodeInvalidInput, api.ReasonNotCovered, field,
				"%s %v is not covered by any grant of %s", p.Resource, p.Actions, from.ID)
		case best == 0:
			return 0, refuse(api.CodeInvalidInput, api.ReasonDepthExceeded, field,
				"every grant of %s covering %s is already at the end of its chain's depth limit", from.ID, p.Resource)
		case expiresAt != nil && latestEnd > 0 && expiresAt.UnixNano() > latestEnd:
			return 0, refuse(api.CodeInvalidInput, api.ReasonExpiryTooLate, "expiresAt",
				"the delegation would outlast the parent's grant, which ends at %s", time.Unix(0, latestEnd).UTC().Format(time.RFC3339))
		}
		depth = max(depth, best)
	}
	return depth, nil
}

func (s *delegationService) Get(ctx context.Context, id string) (*agent.Delegation, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.k.store.GetDelegation(ctx, id)
	if store.IsNotFound(err) || (err == nil && !s.canSee(ctx, act, d)) {
		return nil, api.Errorf(api.CodeNotFound, "delegation %s not found", id)
	}
	if err != nil {
		return nil, apiError(err)
	}
	d.Status = d.EffectiveStatus(s.k.clock())
	return d, nil
}

// canSee: tenant staff see the tenant's delegations; a user those touching its agents.
func (s *delegationService) canSee(ctx context.Context, act api.Actor, d *agent.Delegation) bool {
	if act.Role == api.RoleRoot {
		return true
	}
	if act.TenantID != d.TenantID {
		return false
	}
	if act.Role != api.RoleUser {
		return true
	}
	for _, id := range []string{d.FromAgentID, d.ToAgentID} {
		if a, err := s.k.store.GetAgent(ctx, id); err == nil && a.OwnerID == act.OwnerID {
			return true
		}
	}
	return false
}

func (s *delegationService) List(ctx context.Context, req api.ListDelegationsRequest) (*api.DelegationList, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	switch req.Direction {
	case "", store.DirectionFrom, store.DirectionTo:
	default:
		return nil, invalidField("direction", "%q is not from or to", req.Direction)
	}
	tenant := act.TenantID
	if req.AgentID != "" {
		a, err := s.k.agents.visible(ctx, act, req.AgentID)
		if err != nil {
			return nil, err
		}
		tenant = a.TenantID
	} else if act.Role == api.RoleRoot {
		tenant = agent.DefaultTenant
	}
	list, err := s.k.store.ListDelegations(ctx, store.DelegationFilter{TenantID: tenant, AgentID: req.AgentID, Direction: req.Direction, Limit: api.MaxLimit})
	if err != nil {
		return nil, apiError(err)
	}
	now := s.k.clock()
	out := &api.DelegationList{Delegations: []agent.Delegation{}}
	for _, d := range list {
		if req.AgentID != "" || s.canSee(ctx, act, d) {
			d.Status = d.EffectiveStatus(now)
			out.Delegations = append(out.Delegations, *d)
		}
	}
	return out, nil
}

func (s *delegationService) Revoke(ctx context.Context, id string) (*agent.Delegation, error) {
	act, err := manager(ctx)
	if err != nil {
		return nil, err
	}
	// Visibility needs the agents' owners: read them before the update's transaction,
	// which must not wait on another connection of the pool.
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	now := s.k.clock()
	e := s.k.manage(act, "delegation.revoke", "", "", "", id, nil)
	d, err := s.k.store.UpdateDelegation(store.WithAudit(ctx, e), id, func(d *agent.Delegation) error {
		if d.Status != agent.DelegationRevoked { // revoking twice is not an error
			d.Status, d.RevokedAt = agent.DelegationRevoked, &now
		}
		e.TenantID, e.AgentID = d.TenantID, d.ToAgentID
		e.Arguments = map[string]any{"fromAgentId": d.FromAgentID, "toAgentId": d.ToAgentID}
		return nil
	})
	if store.IsNotFound(err) {
		return nil, api.Errorf(api.CodeNotFound, "delegation %s not found", id)
	}
	if err != nil {
		return nil, apiError(err)
	}
	s.k.managed(e)
	if err := s.k.engine.PutDelegation(ctx, d); err != nil {
		return nil, apiError(err)
	}
	d.Status = d.EffectiveStatus(now)
	return d, nil
}
