package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kavachos/kavach-go/store"
)

const auditColumns = `tenant_id, seq, id, time, kind, agent_id, owner_id, actor, action, resource, arguments,
	result, code, reason, duration_ns, ip, user_agent, grant_id, via, approval_id, revision, trace_id, prev_hash, hash`

// AppendAudit chains and writes the events in one transaction. SQLite's single writer is the
// lock that orders each tenant's chain. It is idempotent by event id: when an id is already
// committed (a retry after an ambiguous COMMIT), a second transaction appends only the
// events the ledger does not hold yet.
func (s *Store) AppendAudit(ctx context.Context, events ...*store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	err := s.appendAudit(ctx, events, false)
	if errors.Is(err, store.ErrConflict) {
		err = s.appendAudit(ctx, events, true)
	}
	return err
}

func (s *Store) appendAudit(ctx context.Context, events []*store.AuditEvent, reconcile bool) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err, "append audit")
	}
	defer tx.Rollback()
	if reconcile {
		if events, err = reconcileCommitted(ctx, tx, events); err != nil {
			return err
		}
	}
	if err := s.appendChain(ctx, tx, events); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: append audit: %w: %w", store.ErrCommitUnknown, err)
	}
	return nil
}

// reconcileCommitted drops from events the ones already committed with the same content
// (they take their stored place) and returns the rest.
func reconcileCommitted(ctx context.Context, tx *sql.Tx, events []*store.AuditEvent) ([]*store.AuditEvent, error) {
	committed := map[string]*store.AuditEvent{}
	for _, e := range events {
		c, err := scanAudit(tx.QueryRowContext(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE id = ?`, e.ID))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, mapErr(err, "append audit: committed events")
		}
		committed[c.ID] = c
	}
	return store.Reconcile(committed, events)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func headOf(ctx context.Context, q queryRower, tenant string) (int64, string, error) {
	return scanHead(q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_heads WHERE tenant_id = ?`, tenant))
}

// scanHead reads a chain head; a tenant without a chain has (0, "").
func scanHead(row *sql.Row) (int64, string, error) {
	var seq int64
	var hash string
	err := row.Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return seq, hash, mapErr(err, "audit head")
}

// AuditHead returns the tenant's last seq and hash.
func (s *Store) AuditHead(ctx context.Context, tenantID string) (int64, string, error) {
	return headOf(ctx, s.r, tenantID)
}

// StreamAudit walks the matching events in seq order.
func (s *Store) StreamAudit(ctx context.Context, q store.AuditQuery, fn func(*store.AuditEvent) error) error {
	if q.AgentID != "" {
		return s.streamAgentAudit(ctx, q, fn)
	}
	where, args := auditWhere(q)
	sqlText := `SELECT ` + auditColumns + ` FROM audit_events WHERE ` + where + ` ORDER BY seq`
	if q.Desc {
		sqlText += ` DESC`
	}
	if q.Limit > 0 {
		sqlText += fmt.Sprintf(` LIMIT %d`, q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return mapErr(err, "stream audit")
	}
	_, err = walkAudit(rows, fn)
	return err
}

// auditEpochShift sizes the epochs of the ledger's per-agent index,
// audit_events_tenant_epoch_agent on (tenant_id, seq >> 14, agent_id, seq): 16,384 events
// each. The constant and the index's expression must agree (migration 0011).
//
// The index is clustered by epoch so that a commit changes few of its pages. Keyed by agent
// first, as it was, the next entry of every agent lands on that agent's own leaf, so a
// commit of 1,000 events spread over 10,000 agents rewrote some 950 pages of 8 KB: 7.7 KB
// of WAL per event, eight times the row and the other indexes together. Within an epoch the
// entries fill at most ~110 leaves, and a commit rewrites at most those (1.1 KB per event
// on average over an epoch). A query for one agent looks its events up epoch by epoch: one
// index search per 16,384 events of the ledger, stopping as soon as its limit is met.
const auditEpochShift = 14

// streamAgentAudit walks one agent's matching events, epoch by epoch in the order asked,
// in one read transaction, so that every epoch is read from the same snapshot.
func (s *Store) streamAgentAudit(ctx context.Context, q store.AuditQuery, fn func(*store.AuditEvent) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return mapErr(err, "stream audit")
	}
	defer tx.Rollback()
	var first, last sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT min(seq) FROM audit_events WHERE tenant_id = ?1),
		(SELECT max(seq) FROM audit_events WHERE tenant_id = ?1)`, q.TenantID).Scan(&first, &last); err != nil {
		return mapErr(err, "stream audit")
	}
	lo, hi := first.Int64, last.Int64
	if !first.Valid || q.AfterSeq >= hi || (q.BeforeSeq > 0 && q.BeforeSeq <= lo) {
		return nil // nothing in the ledger is within the bounds (compared before +1 and -1 can overflow)
	}
	if q.AfterSeq >= lo {
		lo = q.AfterSeq + 1
	}
	if q.BeforeSeq > 0 && q.BeforeSeq <= hi {
		hi = q.BeforeSeq - 1
	}
	if lo > hi {
		return nil
	}
	where, args := auditWhere(q)
	order := ``
	if q.Desc {
		order = ` DESC`
	}
	stmt, err := tx.PrepareContext(ctx, `SELECT `+auditColumns+` FROM audit_events INDEXED BY audit_events_tenant_epoch_agent
		WHERE `+where+fmt.Sprintf(` AND seq >> %d = ?`, auditEpochShift)+` ORDER BY seq`+order+` LIMIT ?`)
	if err != nil {
		return mapErr(err, "stream audit")
	}
	defer stmt.Close()
	args = append(args, nil, nil)
	epoch, end, step := lo>>auditEpochShift, hi>>auditEpochShift, int64(1)
	if q.Desc {
		epoch, end, step = end, epoch, -1
	}
	left := int64(q.Limit)
	for ; ; epoch += step {
		limit := int64(-1) // no limit
		if q.Limit > 0 {
			limit = left
		}
		args[len(args)-2], args[len(args)-1] = epoch, limit
		rows, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			return mapErr(err, "stream audit")
		}
		n, err := walkAudit(rows, fn)
		if err != nil {
			return err
		}
		if left -= n; (q.Limit > 0 && left <= 0) || epoch == end {
			return nil
		}
	}
}

// auditWhere is the condition and its arguments for the events q asks for.
func auditWhere(q store.AuditQuery) (string, []any) {
	where := []string{"tenant_id = ?"}
	args := []any{q.TenantID}
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	for _, f := range []struct {
		col, val string
	}{{"agent_id", q.AgentID}, {"owner_id", q.OwnerID}, {"action", q.Action}, {"result", q.Result}, {"code", q.Code},
		{"trace_id", q.TraceID}} {
		if f.val != "" {
			add(f.col+" = ?", f.val)
		}
	}
	if !q.Since.IsZero() {
		add("time >= ?", micros(q.Since))
	}
	if !q.Until.IsZero() {
		add("time < ?", micros(q.Until))
	}
	if q.AfterSeq > 0 {
		add("seq > ?", q.AfterSeq)
	}
	if q.BeforeSeq > 0 {
		add("seq < ?", q.BeforeSeq)
	}
	return strings.Join(where, " AND "), args
}

// walkAudit hands each row to fn, closes rows, and returns how many rows it read.
func walkAudit(rows *sql.Rows, fn func(*store.AuditEvent) error) (int64, error) {
	defer rows.Close()
	var n int64
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return n, mapErr(err, "stream audit")
		}
		n++
		if err := fn(e); err != nil {
			return n, err
		}
	}
	return n, mapErr(rows.Err(), "stream audit")
}

func scanAudit(row rowScanner) (*store.AuditEvent, error) {
	var (
		e     store.AuditEvent
		at    int64
		args  sql.NullString
		via   string
		trace sql.NullString
	)
	if err := row.Scan(&e.TenantID, &e.Seq, &e.ID, &at, &e.Kind, &e.AgentID, &e.OwnerID, &e.Actor, &e.Action,
		&e.Resource, &args, &e.Result, &e.Code, &e.Reason, &e.DurationNS, &e.IP, &e.UserAgent, &e.Grant,
		&via, &e.ApprovalID, &e.Revision, &trace, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.Time = fromMicros(at)
	e.TraceID = trace.String
	if err := store.DecodeAuditDocs(&e, store.AuditDocs{Arguments: stringOrNil(args), Via: via}); err != nil {
		return nil, err
	}
	return &e, nil
}

// AuditTenants lists tenants with a chain.
func (s *Store) AuditTenants(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT tenant_id FROM audit_heads ORDER BY tenant_id`)
	if err != nil {
		return nil, mapErr(err, "audit tenants")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, mapErr(err, "audit tenants")
		}
		out = append(out, t)
	}
	return out, mapErr(rows.Err(), "audit tenants")
}

// SaveCheckpoint stores a signed checkpoint; saving the same (tenant, seq) again keeps the
// first.
func (s *Store) SaveCheckpoint(ctx context.Context, c *store.AuditCheckpoint) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit_checkpoints (tenant_id, seq, hash, signed_at, public_key, signature)
		VALUES (?,?,?,?,?,?) ON CONFLICT (tenant_id, seq) DO NOTHING`,
		c.TenantID, c.Seq, c.Hash, micros(c.SignedAt), c.PublicKey, c.Signature)
	return mapErr(err, "audit checkpoint")
}

// LatestCheckpoint returns the tenant's newest checkpoint.
func (s *Store) LatestCheckpoint(ctx context.Context, tenantID string) (*store.AuditCheckpoint, error) {
	return s.checkpoint(ctx, `WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1`, tenantID)
}

// GetCheckpoint returns the tenant's checkpoint at seq.
func (s *Store) GetCheckpoint(ctx context.Context, tenantID string, seq int64) (*store.AuditCheckpoint, error) {
	return s.checkpoint(ctx, `WHERE tenant_id = ? AND seq = ?`, tenantID, seq)
}

func (s *Store) checkpoint(ctx context.Context, where string, args ...any) (*store.AuditCheckpoint, error) {
	var c store.AuditCheckpoint
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT tenant_id, seq, hash, signed_at, public_key, signature
		FROM audit_checkpoints `+where, args...).
		Scan(&c.TenantID, &c.Seq, &c.Hash, &at, &c.PublicKey, &c.Signature)
	if err != nil {
		return nil, mapErr(err, fmt.Sprintf("audit checkpoint of %v", args[0]))
	}
	c.SignedAt = fromMicros(at)
	return &c, nil
}

// PruneAudit deletes events before beforeSeq (never the head) and records the new base,
// with the audit events attached to ctx.
func (s *Store) PruneAudit(ctx context.Context, tenantID string, beforeSeq int64, now time.Time) (*store.AuditBase, error) {
	var out *store.AuditBase
	err := s.write(ctx, "prune audit", func(tx *sql.Tx) error {
		head, _, err := headOf(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		beforeSeq = min(beforeSeq, head)
		base, err := baseOf(ctx, tx, tenantID)
		if err != nil && !store.IsNotFound(err) {
			return err
		}
		if base != nil && beforeSeq <= base.Seq || beforeSeq <= 1 {
			if base == nil {
				base = &store.AuditBase{TenantID: tenantID, Seq: 1}
			}
			out = base
			return nil
		}
		var prev string
		if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_events WHERE tenant_id = ? AND seq = ?`, tenantID, beforeSeq-1).Scan(&prev); err != nil {
			return mapErr(err, "prune audit: event before the new base")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE tenant_id = ? AND seq < ?`, tenantID, beforeSeq); err != nil {
			return mapErr(err, "prune audit")
		}
		out = &store.AuditBase{TenantID: tenantID, Seq: beforeSeq, PrevHash: prev, PrunedAt: now}
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_bases (tenant_id, seq, prev_hash, pruned_at) VALUES (?,?,?,?)
			ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, prev_hash = excluded.prev_hash, pruned_at = excluded.pruned_at`,
			tenantID, out.Seq, out.PrevHash, micros(now))
		return mapErr(err, "prune audit")
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AuditBase returns where the tenant's pruned chain starts.
func (s *Store) AuditBase(ctx context.Context, tenantID string) (*store.AuditBase, error) {
	return baseOf(ctx, s.r, tenantID)
}

func baseOf(ctx context.Context, q queryRower, tenantID string) (*store.AuditBase, error) {
	var b store.AuditBase
	var at int64
	err := q.QueryRowContext(ctx, `SELECT tenant_id, seq, prev_hash, pruned_at FROM audit_bases WHERE tenant_id = ?`, tenantID).
		Scan(&b.TenantID, &b.Seq, &b.PrevHash, &at)
	if err != nil {
		return nil, mapErr(err, "audit base of "+tenantID)
	}
	b.PrunedAt = fromMicros(at)
	return &b, nil
}
