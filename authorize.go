package kavach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/telemetry"
)

// Authorize decides whether the agent may make the call. An agent the actor cannot see is
// AGENT_NOT_FOUND, before anything is charged. Every decision is audited; if the audit
// write fails, the decision fails closed.
func (k *Kavach) Authorize(ctx context.Context, agentID string, req api.AuthorizeRequest, cc api.CallContext) (*api.Decision, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := validateCall(req, cc); err != nil {
		return nil, err
	}
	if agentID == "" || len(agentID) > agent.MaxIDLen || !utf8.ValidString(agentID) {
		return nil, invalidField("agentId", "must be 1 to %d bytes of UTF-8", agent.MaxIDLen)
	}
	start, now := time.Now(), k.callTime(cc, req.DryRun)
	ctx, span := startAuthorize(ctx, req)
	defer span.End()
	res := k.decide(ctx, act, agentID, req, cc, now)
	return k.finish(ctx, act, agentID, req, cc, res, start, now), nil
}

// AuthorizeToken decides for the agent holding token. A malformed, unknown or rotated-out
// token, or one of an agent the actor cannot see, is TOKEN_INVALID.
func (k *Kavach) AuthorizeToken(ctx context.Context, token string, req api.AuthorizeRequest, cc api.CallContext) (*api.Decision, error) {
	return k.authorizeToken(ctx, token, "", req, cc)
}

// AuthorizeTokenAs is AuthorizeToken for a caller that also names the agent it asks about,
// as an AuthZEN subject does: the token must belong to agentID. A token that is not valid
// is the audited decision TOKEN_INVALID, exactly as AuthorizeToken answers it; a valid token
// of another agent is a forbidden error and no decision, since an agent may only ask about
// itself.
func (k *Kavach) AuthorizeTokenAs(ctx context.Context, token, agentID string, req api.AuthorizeRequest, cc api.CallContext) (*api.Decision, error) {
	return k.authorizeToken(ctx, token, agentID, req, cc)
}

func (k *Kavach) authorizeToken(ctx context.Context, token, subject string, req api.AuthorizeRequest, cc api.CallContext) (*api.Decision, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := validateCall(req, cc); err != nil {
		return nil, err
	}
	start, now := time.Now(), k.callTime(cc, req.DryRun)
	ctx, span := startAuthorize(ctx, req)
	defer span.End()
	agentID, res := k.resolveToken(ctx, act, token, now)
	if res == nil && subject != "" && agentID != subject {
		e := api.Errorf(api.CodeForbidden, "an agent's token may only ask about that agent: the subject is not the token's agent")
		e.Field = "subject.id"
		return nil, e
	}
	if res == nil {
		r := k.decide(ctx, act, agentID, req, cc, now)
		res = &r
	}
	return k.finish(ctx, act, agentID, req, cc, *res, start, now), nil
}

func (k *Kavach) resolveToken(ctx context.Context, act api.Actor, token string, now time.Time) (string, *engine.Result) {
	if !agent.WellFormedToken(token) {
		return "", tokenInvalid()
	}
	key := keyOf(token)
	h, ok := k.tokens.get(key, now)
	if !ok {
		ctx, span := telemetry.Start(ctx, "kavach.token.lookup")
		var res *engine.Result
		h, res = k.lookupToken(ctx, key, now)
		if span.IsRecording() {
			span.SetAttributes(attribute.Bool("kavach.token.valid", res == nil))
		}
		span.End()
		if res != nil {
			return "", res
		}
	}
	if !h.visibleTo(act) {
		return "", tokenInvalid()
	}
	return h.agentID(), nil
}

// decide judges the call as of now, the call time.
func (k *Kavach) decide(ctx context.Context, act api.Actor, agentID string, req api.AuthorizeRequest, cc api.CallContext, now time.Time) engine.Result {
	if err := k.feed.fresh(); err != nil {
		return engine.Result{Code: api.EngineError, Reason: "internal error: this instance is out of sync with the database and failed closed", Err: err}
	}
	if k.bundles != nil && !k.bundles.Loaded() {
		return engine.Result{Code: api.PolicyNotLoaded, Reason: "the configured policy bundle is not active yet: " + k.engine.Status().LastError}
	}
	er := engine.Request{
		AgentID: agentID, Action: req.Action, Resource: req.Resource, Arguments: req.Arguments,
		IP: cc.IP, Now: now, DryRun: req.DryRun,
	}
	if act.Role != api.RoleRoot {
		er.TenantID = act.TenantID
	}
	if act.Role == api.RoleUser {
		er.OwnerID = act.OwnerID
	}
	return k.withDenialReason(ctx, k.engine.Decide(ctx, er))
}

// callTime is when a call is decided: now, or for a dry run the time the caller asks
// about. A real call is always judged, charged and audited at the real time.
func (k *Kavach) callTime(cc api.CallContext, dryRun bool) time.Time {
	if dryRun && !cc.Time.IsZero() {
		return cc.Time.UTC()
	}
	return k.clock()
}

// finish audits the decision and shapes the answer. A real call's event carries the call
// time the policy saw, so that replaying it judges the same instant; a dry run's is when it
// was asked, whatever time it asked about.
func (k *Kavach) finish(ctx context.Context, act api.Actor, agentID string, req api.AuthorizeRequest, cc api.CallContext, res engine.Result, start, now time.Time) *api.Decision {
	if errors.Is(res.Err, engine.ErrCallerGone) {
		// Not a failure of ours: logged below ERROR, and still audited.
		k.log.InfoContext(ctx, "decision abandoned: the caller went away", "agent", agentID, "error", res.Err)
		ctx = context.WithoutCancel(ctx)
	} else if res.Code == api.EngineError {
		k.log.ErrorContext(ctx, "decision failed closed", "agent", agentID, "error", res.Err)
	}
	tenant := res.TenantID
	if tenant == "" {
		tenant = act.TenantID
	}
	if tenant == "" {
		tenant = agent.DefaultTenant
	}
	at := now
	if req.DryRun {
		at = k.clock()
	}
	ev := &store.AuditEvent{
		ID: audit.NewID(), Time: at, TenantID: tenant, Kind: audit.KindDecision,
		AgentID: agentID, OwnerID: res.OwnerID, Actor: actorName(act), Action: req.Action, Resource: req.Resource,
		Arguments: req.Arguments, Result: resultOf(res, req.DryRun), Code: string(res.Code), Reason: res.Reason,
		DurationNS: time.Since(start).Nanoseconds(), IP: cc.IP, UserAgent: cc.UserAgent, Grant: res.Grant,
		Via: res.Via, ApprovalID: res.ApprovalID, Revision: res.Revision, TraceID: telemetry.TraceID(ctx),
	}
	if err := k.recorder.Record(ctx, ev); err != nil {
		k.log.ErrorContext(ctx, "audit write failed: decision denied", "agent", agentID, "error", err)
		telemetry.Failed(trace.SpanFromContext(ctx), err, "the decision could not be audited")
		return &api.Decision{Code: api.EngineError, Reason: "internal error: the decision could not be audited and failed closed", AuditID: ""}
	}
	decided(ctx, ev, res)
	k.offerDecision(ctx, ev, at, res)
	return &api.Decision{
		Allowed: res.Allowed, Code: res.Code, Reason: res.Reason, AuditID: ev.ID, Grant: res.Grant,
		Via: res.Via, ApprovalID: res.ApprovalID, RetryAfter: agent.Duration(res.RetryAfter),
	}
}

func resultOf(res engine.Result, dryRun bool) string {
	switch {
	case dryRun:
		return audit.ResultCheck
	case res.Allowed:
		return audit.ResultAllowed
	case res.Code == api.RateLimited:
		return audit.ResultRateLimited
	case res.Code == api.ApprovalRequired:
		return audit.ResultApprovalRequired
	}
	return audit.ResultDenied
}

// actorName names the caller in audit events and approval decisions.
func actorName(a api.Actor) string {
	switch a.Role {
	case api.RoleRoot:
		return "root"
	case api.RoleUser:
		return "user:" + a.OwnerID
	}
	return string(a.Role) + ":" + a.TenantID
}

// validateCall rejects malformed requests: they get an error, not a decision.
func validateCall(req api.AuthorizeRequest, cc api.CallContext) error {
	if req.Action == "" || len(req.Action) > api.MaxActionLen ||
		strings.IndexFunc(req.Action, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return invalidField("action", "must be 1 to %d characters without whitespace", api.MaxActionLen)
	}
	if err := agent.ValidateResource(req.Resource); err != nil {
		return invalidField("resource", "%v", err)
	}
	if cc.IP != "" {
		if err := agent.ValidateIP("context.ip", cc.IP); err != nil {
			return apiError(err)
		}
	}
	if len(cc.UserAgent) > agent.MaxUserAgentLen || !utf8.ValidString(cc.UserAgent) {
		return invalidField("context.userAgent", "must be at most %d bytes of UTF-8", agent.MaxUserAgentLen)
	}
	if len(req.Arguments) > 0 {
		b, err := json.Marshal(req.Arguments)
		if err != nil {
			return invalidField("arguments", "not representable as JSON: %v", err)
		}
		if len(b) > api.MaxArgumentBytes {
			return invalidField("arguments", "larger than %d bytes", api.MaxArgumentBytes)
		}
	}
	return nil
}

// sync brings the engine's compiled copy of an agent up to date after a write. If that
// fails the agent is dropped from the engine, so it is denied rather than judged on stale
// rights.
func (k *Kavach) sync(ctx context.Context, a *agent.Agent) error {
	k.forgetTokens(a.ID)
	if err := k.engine.Put(ctx, a); err != nil {
		k.log.ErrorContext(ctx, "engine update failed: agent removed from the engine", "agent", a.ID, "error", err)
		if rerr := k.engine.Remove(ctx, a.ID); rerr != nil {
			k.log.ErrorContext(ctx, "engine removal failed", "agent", a.ID, "error", rerr)
		}
		return fmt.Errorf("engine update for %s: %w", a.ID, err)
	}
	return nil
}

// startAuthorize opens the span of one decision, from the call to its audit record.
func startAuthorize(ctx context.Context, req api.AuthorizeRequest) (context.Context, trace.Span) {
	ctx, span := telemetry.Start(ctx, "kavach.authorize")
	if span.IsRecording() {
		span.SetAttributes(attribute.String("kavach.action", req.Action), attribute.String("kavach.resource", req.Resource),
			attribute.Bool("kavach.dry_run", req.DryRun))
	}
	return ctx, span
}

// decided puts the outcome on the decision's span: never the arguments, which the audit
// mask may hide.
func decided(ctx context.Context, ev *store.AuditEvent, res engine.Result) {
	if !telemetry.Enabled() {
		return // without looking up the context's span: this runs on every decision
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String("kavach.audit_id", ev.ID), attribute.String("kavach.agent_id", ev.AgentID),
		attribute.String("kavach.tenant_id", ev.TenantID), attribute.String("kavach.decision.code", ev.Code),
		attribute.Bool("kavach.decision.allowed", res.Allowed), attribute.String("kavach.policy.revision", ev.Revision))
	if ev.Grant != "" {
		span.SetAttributes(attribute.String("kavach.grant", ev.Grant))
	}
	if len(ev.Via) > 0 {
		span.SetAttributes(attribute.StringSlice("kavach.via", ev.Via))
	}
	if ev.ApprovalID != "" {
		span.SetAttributes(attribute.String("kavach.approval_id", ev.ApprovalID))
	}
	if res.Code == api.EngineError {
		span.SetStatus(codes.Error, ev.Reason)
	}
}
