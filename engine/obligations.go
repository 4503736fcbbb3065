package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/telemetry"
)

// option is a candidate grant with its obligations resolved against stored state.
type option struct {
	c          candidate
	limits     []store.RateLimit
	approvalID string // an approval with uses left, to consume
}

// settle turns the candidates that passed every stateless check into a decision. A grant
// with no obligations allows at once. Otherwise approval gates are looked up, and the
// usable grants are tried, the one with most rate capacity first, each consuming its rate
// slots and approval use together or not at all. If none goes through, the code is the
// furthest any got: RATE_LIMITED, then APPROVAL_REQUIRED, then APPROVAL_DENIED.
func (e *Engine) settle(ctx context.Context, req Request, p *pure) Result {
	cands := p.Candidates
	for _, c := range cands {
		if len(c.Rate) == 0 && c.Approval == nil {
			return allowed(c, req)
		}
	}
	ctx, span := telemetry.Start(ctx, "kavach.engine.obligations")
	res := e.oblige(ctx, req, p)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("kavach.decision.code", string(res.Code)),
			attribute.Int("kavach.obligations.candidates", len(p.Candidates)))
		if res.ApprovalID != "" {
			span.SetAttributes(attribute.String("kavach.approval_id", res.ApprovalID))
		}
		if res.RetryAfter > 0 {
			span.SetAttributes(attribute.String("kavach.retry_after", res.RetryAfter.String()))
		}
		telemetry.Failed(span, res.Err, "obligations failed: "+string(res.Code))
	}
	span.End()
	return res
}

// oblige settles the candidates that carry obligations: rate slots and approval gates.
func (e *Engine) oblige(ctx context.Context, req Request, p *pure) Result {
	cands := p.Candidates
	var (
		usable          []option
		needsApproval   []candidate
		denied          *agent.ApprovalRequest
		pendingApproval *agent.ApprovalRequest
	)
	argsHash := ""
	for _, c := range cands {
		o := option{c: c, limits: limitsOf(c)}
		if c.Approval == nil {
			usable = append(usable, o)
			continue
		}
		if argsHash == "" {
			h, err := agent.HashArguments(req.Arguments)
			if err != nil {
				return engineError(fmt.Errorf("hash arguments: %w", err))
			}
			argsHash = h
		}
		latest, err := e.cfg.Store.CurrentApproval(ctx, agent.ApprovalKey(req.AgentID, c.ID, req.Action, req.Resource, argsHash), req.Now)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return engineError(fmt.Errorf("look up approval: %w", err))
		}
		status := agent.ApprovalStatus("")
		if latest != nil {
			status = latest.EffectiveStatus(req.Now)
		}
		switch status {
		case agent.ApprovalApproved:
			o.approvalID = latest.ID
			usable = append(usable, o)
		case agent.ApprovalDenied:
			denied = latest
		case agent.ApprovalPending:
			pendingApproval = latest
			needsApproval = append(needsApproval, c)
		default:
			needsApproval = append(needsApproval, c)
		}
	}

	var retryAfter time.Duration
	if len(usable) > 0 {
		if err := e.orderByCapacity(ctx, usable, req.Now); err != nil {
			return engineError(err)
		}
		for _, o := range usable {
			r, err := e.consume(ctx, req, o)
			if err != nil {
				return engineError(err)
			}
			if r.OK {
				res := allowed(o.c, req)
				res.ApprovalID = o.approvalID
				return res
			}
			if r.ApprovalGone {
				needsApproval = append(needsApproval, o.c)
				continue
			}
			if retryAfter == 0 || r.RetryAfter < retryAfter {
				retryAfter = r.RetryAfter
			}
		}
	}
	switch {
	case retryAfter > 0:
		return Result{Code: api.RateLimited, Reason: reasonFor(api.RateLimited, req), RetryAfter: retryAfter}
	case len(needsApproval) > 0:
		return e.requireApproval(ctx, req, p, needsApproval[0], argsHash, pendingApproval)
	case denied != nil:
		return Result{Code: api.ApprovalDenied, Reason: reasonFor(api.ApprovalDenied, req), ApprovalID: denied.ID}
	}
	return engineError(errors.New("settle: candidates but no outcome"))
}

func allowed(c candidate, req Request) Result {
	return Result{Allowed: true, Code: api.Allowed, Reason: reasonFor(api.Allowed, req), Grant: c.ID, Via: c.Via}
}

func limitsOf(c candidate) []store.RateLimit {
	out := make([]store.RateLimit, len(c.Rate))
	for i, r := range c.Rate {
		out[i] = store.RateLimit{Key: r.Key, Max: r.Max, Window: time.Duration(r.WindowNS)}
	}
	return out
}

// orderByCapacity sorts options so the one with most rate capacity left comes first. With a
// single option there is nothing to compare and no read is made.
func (e *Engine) orderByCapacity(ctx context.Context, opts []option, now time.Time) error {
	if len(opts) < 2 {
		return nil
	}
	// Several options can share a permission id (one delegated permission, several
	// covering parent grants), so capacity is kept beside each option, not by id.
	type ranked struct {
		o    option
		free int
	}
	rs := make([]ranked, len(opts))
	for i, o := range opts {
		rs[i] = ranked{o: o, free: int(^uint(0) >> 1)}
		if len(o.limits) > 0 {
			n, err := e.cfg.Store.RateRemaining(ctx, o.limits, now)
			if err != nil {
				return fmt.Errorf("rate capacity: %w", err)
			}
			rs[i].free = n
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].free > rs[j].free })
	for i := range rs {
		opts[i] = rs[i].o
	}
	return nil
}

// consume charges an option's obligations, or in a dry run checks that it could.
func (e *Engine) consume(ctx context.Context, req Request, o option) (store.ConsumeResult, error) {
	if !req.DryRun {
		r, err := e.cfg.Store.Consume(ctx, store.Consumption{Now: req.Now, Limits: o.limits, ApprovalID: o.approvalID})
		if err != nil {
			return r, fmt.Errorf("consume obligations: %w", err)
		}
		return r, nil
	}
	if len(o.limits) == 0 {
		return store.ConsumeResult{OK: true}, nil
	}
	n, err := e.cfg.Store.RateRemaining(ctx, o.limits, req.Now)
	if err != nil {
		return store.ConsumeResult{}, fmt.Errorf("rate capacity: %w", err)
	}
	if n > 0 {
		return store.ConsumeResult{OK: true}, nil
	}
	return store.ConsumeResult{RetryAfter: time.Second}, nil
}

// requireApproval opens (or finds) the approval request for the call. A dry run opens
// nothing and reports a pending request only if one exists.
func (e *Engine) requireApproval(ctx context.Context, req Request, p *pure, c candidate, argsHash string, pending *agent.ApprovalRequest) Result {
	res := Result{Code: api.ApprovalRequired, Reason: reasonFor(api.ApprovalRequired, req)}
	if req.DryRun {
		if pending != nil {
			res.ApprovalID = pending.ID
		}
		return res
	}
	ttl := time.Duration(c.Approval.TTLNS)
	if ttl <= 0 {
		ttl = e.cfg.DefaultApprovalGrantTTL
	}
	owner := c.Approval.Owner
	if owner == "" { // a gate added by a custom rule belongs to the agent's owner
		owner = p.Agent.Owner
	}
	r := &agent.ApprovalRequest{
		ID: agent.NewID(agent.PrefixApproval), TenantID: p.Agent.Tenant, OwnerID: owner, AgentID: req.AgentID,
		PermissionID: c.ID, Action: req.Action, Resource: req.Resource, ArgsHash: argsHash,
		Arguments: req.Arguments, Approvers: c.Approval.Approvers, GrantTTL: agent.Duration(ttl),
		Status: agent.ApprovalPending, CreatedAt: req.Now, ExpiresAt: req.Now.Add(e.cfg.PendingApprovalTTL),
	}
	if r.Arguments == nil {
		r.Arguments = map[string]any{}
	}
	return e.openApproval(ctx, req, r, res)
}

func (e *Engine) openApproval(ctx context.Context, req Request, r *agent.ApprovalRequest, res Result) Result {
	got, created, err := e.cfg.Store.OpenApproval(ctx, r, req.Now)
	if err != nil {
		return engineError(fmt.Errorf("open approval: %w", err))
	}
	res.ApprovalID = got.ID
	if created && e.cfg.OnApprovalRequested != nil {
		e.cfg.OnApprovalRequested(got)
	}
	return res
}
