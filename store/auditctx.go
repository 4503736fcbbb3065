package store

import (
	"context"
	"fmt"
)

// Management events are written in the same transaction as the change they describe. The
// caller attaches them to the context of the one write that makes the change; the backend
// appends them to their tenants' chains inside that write's transaction, after any update
// function has run and before COMMIT, so that the change and its events are committed
// together or not at all. An event that cannot be appended fails the write.
//
// The writes that take attached events are CreateAgent, UpdateAgent, RotateToken,
// CreateTenant, CreateDelegation, UpdateDelegation, UpdateApproval, CreateAPIKey,
// RevokeAPIKey, CreateOAuthToken and BulkAgentCreator.CreateAgents. Other methods ignore
// them.

type auditKey struct{}

// WithAudit returns a context that hands events to the next write made with it. Attach
// events only to the context of the write they describe: every write made with the
// returned context appends them. An update function (UpdateAgent's fn and the like) may
// still complete the events, for what only the stored object tells (its tenant, a summary
// before the change): they are read after it returns.
func WithAudit(ctx context.Context, events ...*AuditEvent) context.Context {
	if len(events) == 0 {
		return ctx
	}
	return context.WithValue(ctx, auditKey{}, events)
}

// AuditFrom returns the events attached to ctx by WithAudit. An attached event without an
// id, a tenant or a time is an error: it could not take its place in a chain.
func AuditFrom(ctx context.Context) ([]*AuditEvent, error) {
	events, _ := ctx.Value(auditKey{}).([]*AuditEvent)
	for i, e := range events {
		if e == nil || e.ID == "" || e.TenantID == "" || e.Time.IsZero() {
			return nil, fmt.Errorf("audit event %d attached to a write lacks an id, a tenant or a time", i)
		}
	}
	return events, nil
}
