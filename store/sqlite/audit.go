package sqlite

import (
	"context"
	"database/sql"

	"github.com/kavachos/kavach-go/store"
)

const auditColumns = `id, time, tenant_id, kind, agent_id, owner_id, actor, action, resource, arguments,
	result, code, reason, duration_ns, ip, user_agent, grant_id, via, approval_id`

// AppendAudit writes the events in one transaction: all of them or none.
func (s *Store) AppendAudit(ctx context.Context, events ...*store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err, "append audit")
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_events (`+auditColumns+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return mapErr(err, "append audit")
	}
	defer stmt.Close()
	for _, e := range events {
		docs, err := store.EncodeAuditDocs(e)
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, e.ID, micros(e.Time), e.TenantID, e.Kind, e.AgentID, e.OwnerID,
			e.Actor, e.Action, e.Resource, nullString(docs.Arguments), e.Result, e.Code, e.Reason,
			e.DurationNS, e.IP, e.UserAgent, e.Grant, docs.Via, e.ApprovalID); err != nil {
			return mapErr(err, "audit event "+e.ID)
		}
	}
	return mapErr(tx.Commit(), "append audit")
}

// ListAudit returns up to limit of a tenant's events, oldest first.
func (s *Store) ListAudit(ctx context.Context, tenantID, agentID string, limit int) ([]*store.AuditEvent, error) {
	q := `SELECT ` + auditColumns + ` FROM audit_events WHERE tenant_id = ?`
	args := []any{tenantID}
	if agentID != "" {
		q += ` AND agent_id = ?`
		args = append(args, agentID)
	}
	q += ` ORDER BY time, id LIMIT ?`
	args = append(args, store.PageLimit(limit))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "list audit")
	}
	defer rows.Close()
	var out []*store.AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, mapErr(err, "list audit")
		}
		out = append(out, e)
	}
	return out, mapErr(rows.Err(), "list audit")
}

func scanAudit(row rowScanner) (*store.AuditEvent, error) {
	var (
		e    store.AuditEvent
		at   int64
		args sql.NullString
		via  string
	)
	if err := row.Scan(&e.ID, &at, &e.TenantID, &e.Kind, &e.AgentID, &e.OwnerID, &e.Actor, &e.Action,
		&e.Resource, &args, &e.Result, &e.Code, &e.Reason, &e.DurationNS, &e.IP, &e.UserAgent, &e.Grant,
		&via, &e.ApprovalID); err != nil {
		return nil, err
	}
	e.Time = fromMicros(at)
	docs := store.AuditDocs{Arguments: stringOrNil(args), Via: via}
	if err := store.DecodeAuditDocs(&e, docs); err != nil {
		return nil, err
	}
	return &e, nil
}
