package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/store"
)

var auditColumns = []string{"tenant_id", "seq", "id", "time", "kind", "agent_id", "owner_id", "actor", "action",
	"resource", "arguments", "result", "code", "reason", "duration_ns", "ip", "user_agent", "grant_id",
	"via", "approval_id", "revision", "trace_id", "prev_hash", "hash"}

// auditLockClass is the first key of the per-tenant advisory locks that order each chain.
const auditLockClass = 0x6b617661 // "kava"

// AppendAudit chains and inserts the events in one transaction. Each tenant's chain is
// extended under a transaction-scoped advisory lock, taken in tenant order, so instances
// sharing the database assign seq in commit order without gaps. It is idempotent by event
// id: when an id is already committed (a retry after an ambiguous COMMIT), a second
// transaction appends only the events the ledger does not hold yet.
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
	if !reconcile {
		return s.appendOwnTx(ctx, events)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return mapErr(err, "append audit")
	}
	defer tx.Rollback(ctx)
	if events, err = reconcileCommitted(ctx, tx, events); err != nil {
		return err
	}
	if err := appendChain(ctx, tx, events, false); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: append audit: %w: %w", store.ErrCommitUnknown, err)
	}
	return nil
}

// reconcileCommitted drops from events the ones already committed with the same content
// (they take their stored place) and returns the rest.
func reconcileCommitted(ctx context.Context, tx pgx.Tx, events []*store.AuditEvent) ([]*store.AuditEvent, error) {
	rows, err := tx.Query(ctx, `SELECT `+strings.Join(auditColumns, ", ")+` FROM audit_events WHERE id = ANY($1)`, store.AuditIDs(events))
	if err != nil {
		return nil, mapErr(err, "append audit: committed events")
	}
	committed := map[string]*store.AuditEvent{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			rows.Close()
			return nil, mapErr(err, "append audit: committed events")
		}
		committed[e.ID] = e
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "append audit: committed events")
	}
	return store.Reconcile(committed, events)
}

type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func headOf(ctx context.Context, q queryRower, tenant string) (int64, string, error) {
	var seq int64
	var hash string
	err := q.QueryRow(ctx, `SELECT seq, hash FROM audit_heads WHERE tenant_id = $1`, tenant).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", nil
	}
	return seq, hash, mapErr(err, "audit head")
}

// AuditHead returns the tenant's last seq and hash.
func (s *Store) AuditHead(ctx context.Context, tenantID string) (int64, string, error) {
	return headOf(ctx, s.pool, tenantID)
}

// StreamAudit walks the matching events in seq order, row by row.
func (s *Store) StreamAudit(ctx context.Context, q store.AuditQuery, fn func(*store.AuditEvent) error) error {
	where := []string{"tenant_id = $1"}
	args := []any{q.TenantID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	for _, f := range []struct {
		col, val string
	}{{"agent_id", q.AgentID}, {"owner_id", q.OwnerID}, {"action", q.Action}, {"result", q.Result}, {"code", q.Code},
		{"trace_id", q.TraceID}} {
		if f.val != "" {
			add(f.col+" = $%d", f.val)
		}
	}
	if !q.Since.IsZero() {
		add("time >= $%d", q.Since)
	}
	if !q.Until.IsZero() {
		add("time < $%d", q.Until)
	}
	if q.AfterSeq > 0 {
		add("seq > $%d", q.AfterSeq)
	}
	if q.BeforeSeq > 0 {
		add("seq < $%d", q.BeforeSeq)
	}
	sqlText := `SELECT ` + strings.Join(auditColumns, ", ") + ` FROM audit_events WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq`
	if q.Desc {
		sqlText += ` DESC`
	}
	if q.Limit > 0 {
		sqlText += fmt.Sprintf(` LIMIT %d`, q.Limit)
	}
	rows, err := s.pool.Query(ctx, sqlText, args...)
	if err != nil {
		return mapErr(err, "stream audit")
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return mapErr(err, "stream audit")
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return mapErr(rows.Err(), "stream audit")
}

func scanAudit(row pgx.Row) (*store.AuditEvent, error) {
	var (
		e     store.AuditEvent
		docs  store.AuditDocs
		trace *string
	)
	if err := row.Scan(&e.TenantID, &e.Seq, &e.ID, &e.Time, &e.Kind, &e.AgentID, &e.OwnerID, &e.Actor, &e.Action,
		&e.Resource, &docs.Arguments, &e.Result, &e.Code, &e.Reason, &e.DurationNS, &e.IP, &e.UserAgent, &e.Grant,
		&docs.Via, &e.ApprovalID, &e.Revision, &trace, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.Time = e.Time.UTC()
	if trace != nil {
		e.TraceID = *trace
	}
	if err := store.DecodeAuditDocs(&e, docs); err != nil {
		return nil, err
	}
	return &e, nil
}

// AuditTenants lists tenants with a chain.
func (s *Store) AuditTenants(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant_id FROM audit_heads ORDER BY tenant_id`)
	if err != nil {
		return nil, mapErr(err, "audit tenants")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, mapErr(err, "audit tenants")
}

// SaveCheckpoint stores a signed checkpoint; saving the same (tenant, seq) again keeps the
// first.
func (s *Store) SaveCheckpoint(ctx context.Context, c *store.AuditCheckpoint) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_checkpoints (tenant_id, seq, hash, signed_at, public_key, signature)
		VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (tenant_id, seq) DO NOTHING`,
		c.TenantID, c.Seq, c.Hash, c.SignedAt, c.PublicKey, c.Signature)
	return mapErr(err, "audit checkpoint")
}

// LatestCheckpoint returns the tenant's newest checkpoint.
func (s *Store) LatestCheckpoint(ctx context.Context, tenantID string) (*store.AuditCheckpoint, error) {
	return s.checkpoint(ctx, `WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1`, tenantID)
}

// GetCheckpoint returns the tenant's checkpoint at seq.
func (s *Store) GetCheckpoint(ctx context.Context, tenantID string, seq int64) (*store.AuditCheckpoint, error) {
	return s.checkpoint(ctx, `WHERE tenant_id = $1 AND seq = $2`, tenantID, seq)
}

func (s *Store) checkpoint(ctx context.Context, where string, args ...any) (*store.AuditCheckpoint, error) {
	var c store.AuditCheckpoint
	err := s.pool.QueryRow(ctx, `SELECT tenant_id, seq, hash, signed_at, public_key, signature
		FROM audit_checkpoints `+where, args...).
		Scan(&c.TenantID, &c.Seq, &c.Hash, &c.SignedAt, &c.PublicKey, &c.Signature)
	if err != nil {
		return nil, mapErr(err, fmt.Sprintf("audit checkpoint of %v", args[0]))
	}
	c.SignedAt = c.SignedAt.UTC()
	return &c, nil
}

// PruneAudit deletes events before beforeSeq (never the head) and records the new base,
// under the tenant's chain lock, with the audit events attached to ctx.
func (s *Store) PruneAudit(ctx context.Context, tenantID string, beforeSeq int64, now time.Time) (*store.AuditBase, error) {
	var out *store.AuditBase
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(auditLockClass), tenantID); err != nil {
			return err
		}
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
		if err := tx.QueryRow(ctx, `SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = $2`, tenantID, beforeSeq-1).Scan(&prev); err != nil {
			return fmt.Errorf("event before the new base: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM audit_events WHERE tenant_id = $1 AND seq < $2`, tenantID, beforeSeq); err != nil {
			return err
		}
		out = &store.AuditBase{TenantID: tenantID, Seq: beforeSeq, PrevHash: prev, PrunedAt: now}
		_, err = tx.Exec(ctx, `INSERT INTO audit_bases (tenant_id, seq, prev_hash, pruned_at) VALUES ($1,$2,$3,$4)
			ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, prev_hash = excluded.prev_hash, pruned_at = excluded.pruned_at`,
			tenantID, out.Seq, out.PrevHash, now)
		return err
	})
	if err != nil {
		return nil, mapErr(err, "prune audit")
	}
	return out, nil
}

// AuditBase returns where the tenant's pruned chain starts.
func (s *Store) AuditBase(ctx context.Context, tenantID string) (*store.AuditBase, error) {
	return baseOf(ctx, s.pool, tenantID)
}

func baseOf(ctx context.Context, q queryRower, tenantID string) (*store.AuditBase, error) {
	var b store.AuditBase
	err := q.QueryRow(ctx, `SELECT tenant_id, seq, prev_hash, pruned_at FROM audit_bases WHERE tenant_id = $1`, tenantID).
		Scan(&b.TenantID, &b.Seq, &b.PrevHash, &b.PrunedAt)
	if err != nil {
		return nil, mapErr(err, "audit base of "+tenantID)
	}
	b.PrunedAt = b.PrunedAt.UTC()
	return &b, nil
}
