package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kavachos/kavach-go/store"
)

// auditInsertRows are the row counts of the audit inserts, largest first: a batch is
// written with the largest that fit, so any batch takes few statements, each prepared once
// per connection (pgx caches them).
var auditInsertRows = [...]int{64, 32, 16, 8, 4, 2, 1}

var auditInsertSQL = func() (out [len(auditInsertRows)]string) {
	for i, n := range auditInsertRows {
		var b strings.Builder
		b.WriteString(`INSERT INTO audit_events (` + strings.Join(auditColumns, ", ") + `) VALUES `)
		for row := range n {
			if row > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			for col := range auditColumns {
				if col > 0 {
					b.WriteByte(',')
				}
				b.WriteString("$" + strconv.Itoa(row*len(auditColumns)+col+1))
			}
			b.WriteByte(')')
		}
		out[i] = b.String()
	}
	return out
}()

const (
	auditLockSQL   = `SELECT pg_advisory_xact_lock($1, hashtext($2))`
	auditHeadSQL   = `SELECT seq, hash FROM audit_heads WHERE tenant_id = $1`
	auditUpsertSQL = `INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`
)

// batcher sends a batch of statements in one round trip, or copies rows: a connection, or
// a transaction.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	copier
}

// appendOwnTx chains and writes events in a transaction of their own on one connection, in
// two round trips: BEGIN, the tenants' locks and heads; then the events, the new heads and
// COMMIT. After an error the transaction is rolled back (or the connection dropped).
func (s *Store) appendOwnTx(ctx context.Context, events []*store.AuditEvent) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapErr(err, "append audit")
	}
	defer conn.Release() // a connection left in a transaction is closed, not reused
	err = appendChain(ctx, conn, events, true)
	if err != nil && !conn.Conn().IsClosed() && conn.Conn().PgConn().TxStatus() != 'I' {
		conn.Exec(ctx, "ROLLBACK")
	}
	return err
}

// appendChain extends each tenant's chain with events. With own it begins and commits the
// transaction itself; otherwise q is a transaction that the caller commits. Each tenant's
// chain is extended under its transaction-scoped advisory lock, taken in tenant order.
func appendChain(ctx context.Context, q batcher, events []*store.AuditEvent, own bool) error {
	if len(events) == 0 {
		return nil
	}
	tenants, groups := store.ByTenant(events)
	heads, err := lockHeads(ctx, q, tenants, own)
	if err != nil {
		return mapErr(err, "append audit")
	}
	b := &pgx.Batch{}
	for i, tenant := range tenants {
		seq, hash, err := store.PrepareChain(groups[tenant], heads[i].seq, heads[i].hash)
		if err != nil {
			return err
		}
		b.Queue(auditUpsertSQL, tenant, seq, hash)
	}
	if err := insertAudit(ctx, q, b, events); err != nil {
		return err
	}
	if own {
		b.Queue("COMMIT")
	}
	n := b.Len()
	return sendBatch(ctx, q, b, func(br pgx.BatchResults) error {
		for i := range n {
			if _, err := br.Exec(); err != nil {
				var pe *pgconn.PgError
				if own && (i == n-1 || !errors.As(err, &pe)) {
					// COMMIT failed, or the connection did after COMMIT was sent.
					return fmt.Errorf("postgres: append audit: %w: %w", store.ErrCommitUnknown, err)
				}
				return mapErr(err, "append audit") // the statements after it, COMMIT included, did not run
			}
		}
		return nil
	})
}

type chainHead struct {
	seq  int64
	hash string
}

// lockHeads takes the tenants' chain locks, in order, and reads their heads, in one round
// trip (beginning the transaction first when own).
func lockHeads(ctx context.Context, q batcher, tenants []string, own bool) ([]chainHead, error) {
	b := &pgx.Batch{}
	if own {
		b.Queue("BEGIN")
	}
	for _, tenant := range tenants {
		b.Queue(auditLockSQL, int32(auditLockClass), tenant)
		b.Queue(auditHeadSQL, tenant)
	}
	heads := make([]chainHead, len(tenants))
	return heads, sendBatch(ctx, q, b, func(br pgx.BatchResults) error {
		if own {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		for i := range tenants {
			if _, err := br.Exec(); err != nil {
				return err
			}
			err := br.QueryRow().Scan(&heads[i].seq, &heads[i].hash)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		return nil
	})
}

// sendBatch sends b, reads its results with read, and closes it.
func sendBatch(ctx context.Context, q batcher, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	br := q.SendBatch(ctx, b)
	err := read(br)
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	return err
}

// copyFromRows is the batch size from which events are copied (COPY, binary) rather than
// inserted: COPY costs two more round trips, and less per row.
const copyFromRows = 64

// insertAudit writes chained events: a large batch with COPY now, a small one queued on b,
// as many to a statement as the inserts allow.
func insertAudit(ctx context.Context, q batcher, b *pgx.Batch, events []*store.AuditEvent) error {
	if len(events) >= copyFromRows {
		rows := make([][]any, len(events))
		for i, e := range events {
			args, err := auditArgs(make([]any, 0, len(auditColumns)), e)
			if err != nil {
				return err
			}
			rows[i] = args
		}
		_, err := q.CopyFrom(ctx, pgx.Identifier{"audit_events"}, auditColumns, pgx.CopyFromRows(rows))
		return mapErr(err, "append audit")
	}
	for i, n := range auditInsertRows {
		for len(events) >= n {
			args := make([]any, 0, n*len(auditColumns))
			for _, e := range events[:n] {
				var err error
				if args, err = auditArgs(args, e); err != nil {
					return err
				}
			}
			b.Queue(auditInsertSQL[i], args...)
			events = events[n:]
		}
	}
	return nil
}

type copier interface {
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, rows pgx.CopyFromSource) (int64, error)
}

// auditArgs appends a chained event's column values in auditColumns order.
func auditArgs(args []any, e *store.AuditEvent) ([]any, error) {
	docs, err := store.EncodeAuditDocs(e)
	if err != nil {
		return nil, err
	}
	var trace *string // NULL
	if e.TraceID != "" {
		trace = &e.TraceID
	}
	return append(args, e.TenantID, e.Seq, e.ID, e.Time, e.Kind, e.AgentID, e.OwnerID, e.Actor,
		e.Action, e.Resource, docs.Arguments, e.Result, e.Code, e.Reason, e.DurationNS, e.IP,
		e.UserAgent, e.Grant, docs.Via, e.ApprovalID, e.Revision, trace, e.PrevHash, e.Hash), nil
}
