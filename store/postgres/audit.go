package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/store"
)

var auditColumns = []string{"id", "time", "tenant_id", "kind", "agent_id", "owner_id", "actor", "action",
	"resource", "arguments", "result", "code", "reason", "duration_ns", "ip", "user_agent", "grant_id",
	"via", "approval_id"}

// AppendAudit copies the events into the ledger in one transaction: all of them or none.
func (s *Store) AppendAudit(ctx context.Context, events ...*store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	rows := make([][]any, len(events))
	for i, e := range events {
		docs, err := store.EncodeAuditDocs(e)
		if err != nil {
			return err
		}
		rows[i] = []any{e.ID, e.Time, e.TenantID, e.Kind, e.AgentID, e.OwnerID, e.Actor, e.Action,
			e.Resource, docs.Arguments, e.Result, e.Code, e.Reason, e.DurationNS, e.IP, e.UserAgent,
			e.Grant, docs.Via, e.ApprovalID}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, auditColumns, pgx.CopyFromRows(rows))
		return err
	})
	return mapErr(err, "append audit")
}

// ListAudit returns up to limit of a tenant's events, oldest first.
func (s *Store) ListAudit(ctx context.Context, tenantID, agentID string, limit int) ([]*store.AuditEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, time, tenant_id, kind, agent_id, owner_id, actor, action,
		resource, arguments::text, result, code, reason, duration_ns, ip, user_agent, grant_id, via::text,
		approval_id FROM audit_events
		WHERE tenant_id = $1 AND ($2 = '' OR agent_id = $2)
		ORDER BY time, id LIMIT $3`, tenantID, agentID, store.PageLimit(limit))
	if err != nil {
		return nil, mapErr(err, "list audit")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.AuditEvent, error) { return scanAudit(r) })
	return out, mapErr(err, "list audit")
}

func scanAudit(row pgx.Row) (*store.AuditEvent, error) {
	var (
		e    store.AuditEvent
		docs store.AuditDocs
	)
	if err := row.Scan(&e.ID, &e.Time, &e.TenantID, &e.Kind, &e.AgentID, &e.OwnerID, &e.Actor, &e.Action,
		&e.Resource, &docs.Arguments, &e.Result, &e.Code, &e.Reason, &e.DurationNS, &e.IP, &e.UserAgent,
		&e.Grant, &docs.Via, &e.ApprovalID); err != nil {
		return nil, err
	}
	e.Time = e.Time.UTC()
	if err := store.DecodeAuditDocs(&e, docs); err != nil {
		return nil, err
	}
	return &e, nil
}
