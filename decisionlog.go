package kavach

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/decisionlog"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/store"
)

// startDecisionLog starts the OPA-shaped decision-log export, if configured. It is an
// advisory part: a receiver that is down shows in its status and metrics, never in
// readiness or in a decision.
func (k *Kavach) startDecisionLog(ctx context.Context, cfg Config) error {
	dc := cfg.DecisionLog
	if !dc.Enabled() {
		return nil
	}
	// What the ledger masks leaves in no decision-log event either.
	dc.Mask = append(append([]string(nil), dc.Mask...), cfg.Audit.Mask...)
	if dc.Logger == nil {
		dc.Logger = k.log
	}
	sink, err := decisionlog.New(dc)
	if err != nil {
		return err
	}
	if err := k.parts.StartAdvisory(ctx, sink); err != nil {
		return fmt.Errorf("decision log: %w", err)
	}
	k.decisionLog = sink
	return nil
}

// offerDecision hands an audited decision to the decision-log export. It reads only what
// the ledger writer leaves alone once the event is recorded: at is the event's time, and
// the trace comes from ctx.
//
// Invalid-token decisions are left out: they name no agent, and the ledger folds them per
// source into summaries that share one id, so that garbage tokens cannot flood it; left
// in, they could also crowd real decisions out of the export's buffer.
func (k *Kavach) offerDecision(ctx context.Context, ev *store.AuditEvent, at time.Time, res engine.Result) {
	if k.decisionLog == nil || res.Code == api.TokenInvalid {
		return
	}
	k.decisionLog.Offer(ctx, decisionlog.Decision{
		ID: ev.ID, Time: at, Duration: time.Duration(ev.DurationNS), Caller: ev.Actor,
		TenantID: ev.TenantID, AgentID: ev.AgentID, OwnerID: ev.OwnerID, Action: ev.Action, Resource: ev.Resource,
		Arguments: maps.Clone(ev.Arguments), IP: ev.IP, UserAgent: ev.UserAgent, DryRun: ev.Result == audit.ResultCheck,
		Allowed: res.Allowed, Code: string(res.Code), Reason: res.Reason, Grant: res.Grant, Via: res.Via,
		ApprovalID: res.ApprovalID, RetryAfter: res.RetryAfter, Revision: res.Revision,
	})
}

// DecisionLogStats returns the decision-log export's counters (zero when it is off).
func (k *Kavach) DecisionLogStats() decisionlog.Stats { return k.decisionLog.Stats() }
