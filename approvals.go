package kavach

import (
	"context"
	"slices"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/store"
)

type approvalService struct{ k *Kavach }

func (s *approvalService) List(ctx context.Context, req api.ListApprovalsRequest) (*api.ApprovalList, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	status := req.Status
	if status == "" {
		status = agent.ApprovalPending
	}
	switch status {
	case agent.ApprovalPending, agent.ApprovalApproved, agent.ApprovalDenied, agent.ApprovalExpired, agent.ApprovalUsed:
	default:
		return nil, invalidField("status", "%q is not pending, approved, denied, expired or used", status)
	}
	if req.Limit < 0 || req.Limit > api.MaxLimit {
		return nil, invalidField("limit", "must be between 1 and %d", api.MaxLimit)
	}
	tenant := act.TenantID
	if act.Role == api.RoleRoot {
		tenant = agent.DefaultTenant
	}
	f := store.ApprovalFilter{TenantID: tenant, AgentID: req.AgentID, Status: status, Now: s.k.clock(), Limit: req.Limit}
	if act.Role == api.RoleUser {
		f.Visible = act.OwnerID
	}
	if status != agent.ApprovalPending {
		f.Status = "" // derived statuses are filtered below, after EffectiveStatus
	}
	list, err := s.k.store.ListApprovals(ctx, f)
	if err != nil {
		return nil, apiError(err)
	}
	out := &api.ApprovalList{Approvals: []agent.ApprovalRequest{}}
	for _, r := range list {
		r.Status = r.EffectiveStatus(f.Now)
		if r.Status == status {
			out.Approvals = append(out.Approvals, *r)
		}
	}
	return out, nil
}

func (s *approvalService) Get(ctx context.Context, id string) (*agent.ApprovalRequest, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.k.store.GetApproval(ctx, id)
	if store.IsNotFound(err) || (err == nil && !canSeeApproval(act, r)) {
		return nil, api.Errorf(api.CodeNotFound, "approval %s not found", id)
	}
	if err != nil {
		return nil, apiError(err)
	}
	r.Status = r.EffectiveStatus(s.k.clock())
	return r, nil
}

func (s *approvalService) Approve(ctx context.Context, id string, req api.ApproveRequest) (*agent.ApprovalRequest, error) {
	uses := req.Uses
	if uses == 0 {
		uses = 1
	}
	if uses < 1 || uses > api.MaxApprovalUses {
		return nil, invalidField("uses", "must be between 1 and %d", api.MaxApprovalUses)
	}
	if req.TTL.D() < 0 || req.TTL.D() > api.MaxApprovalTTL {
		return nil, invalidField("ttl", "must be between 0 and %s", api.MaxApprovalTTL)
	}
	return s.decide(ctx, id, req.Reason, func(r *agent.ApprovalRequest, now time.Time) {
		ttl := req.TTL.D()
		if ttl == 0 {
			ttl = r.GrantTTL.D()
		}
		until := now.Add(ttl)
		r.Status, r.UsesLeft, r.GrantExpiresAt = agent.ApprovalApproved, uses, &until
	})
}

func (s *approvalService) Deny(ctx context.Context, id string, req api.DenyRequest) (*agent.ApprovalRequest, error) {
	return s.decide(ctx, id, req.Reason, func(r *agent.ApprovalRequest, _ time.Time) {
		r.Status = agent.ApprovalDenied
	})
}

// decide applies a human decision to a request that is still pending, as the actor.
func (s *approvalService) decide(ctx context.Context, id, reason string, apply func(*agent.ApprovalRequest, time.Time)) (*agent.ApprovalRequest, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if len(reason) > 1000 {
		return nil, invalidField("reason", "longer than 1000 bytes")
	}
	now := s.k.clock()
	e := s.k.manage(act, "", "", "", "", id, nil)
	r, err := s.k.store.UpdateApproval(store.WithAudit(ctx, e), id, func(r *agent.ApprovalRequest) error {
		if !canSeeApproval(act, r) {
			return api.Errorf(api.CodeNotFound, "approval %s not found", id)
		}
		if !mayDecide(act, r) {
			return api.Errorf(api.CodeForbidden, "only the agent's owner, a tenant admin or a listed approver may decide")
		}
		if st := r.EffectiveStatus(now); st != agent.ApprovalPending {
			return api.Errorf(api.CodeConflict, "approval %s is %s, not pending", id, st)
		}
		apply(r, now)
		r.DecidedBy, r.DecidedAt, r.Reason = actorName(act), &now, reason
		describeDecision(e, r)
		return nil
	})
	if store.IsNotFound(err) {
		return nil, api.Errorf(api.CodeNotFound, "approval %s not found", id)
	}
	if err != nil {
		return nil, apiError(err)
	}
	s.k.managed(e)
	r.Status = r.EffectiveStatus(now)
	return r, nil
}

// describeDecision completes e, the management event of a decision just applied to r.
func describeDecision(e *store.AuditEvent, r *agent.ApprovalRequest) {
	e.Action = "approval.approve"
	details := map[string]any{"reason": r.Reason, "action": r.Action, "resource": r.Resource}
	if r.Status == agent.ApprovalDenied {
		e.Action = "approval.deny"
	} else {
		details["uses"] = r.UsesLeft
		details["grantExpiresAt"] = r.GrantExpiresAt.Format(time.RFC3339)
	}
	e.TenantID, e.AgentID, e.OwnerID, e.Arguments = r.TenantID, r.AgentID, r.OwnerID, details
}

// canSeeApproval: tenant staff see the tenant's requests; a user sees those for its own
// agents and those naming it as an approver.
func canSeeApproval(a api.Actor, r *agent.ApprovalRequest) bool {
	switch a.Role {
	case api.RoleRoot:
		return true
	case api.RoleUser:
		return a.TenantID == r.TenantID && (a.OwnerID == r.OwnerID || slices.Contains(r.Approvers, a.OwnerID))
	}
	return a.TenantID == r.TenantID
}

// mayDecide: the agent's owner, a tenant admin, root, or a listed approver. An app key
// authorizes calls; it never approves them.
func mayDecide(a api.Actor, r *agent.ApprovalRequest) bool {
	switch a.Role {
	case api.RoleRoot, api.RoleAdmin:
		return true
	case api.RoleUser:
		return a.OwnerID == r.OwnerID || slices.Contains(r.Approvers, a.OwnerID)
	}
	return false
}

// withDenialReason tells the agent of a denied call what the person who denied it wrote,
// and until when the denial holds: the request's pending window, after which the same
// call asks again.
func (k *Kavach) withDenialReason(ctx context.Context, res engine.Result) engine.Result {
	if res.Code != api.ApprovalDenied || res.ApprovalID == "" {
		return res
	}
	r, err := k.store.GetApproval(ctx, res.ApprovalID)
	if err != nil {
		return res
	}
	res.Reason = "a human denied this call until " + r.ExpiresAt.UTC().Format(time.RFC3339)
	if r.Reason != "" {
		res.Reason += ": " + r.Reason
	}
	return res
}
