package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/kavachos/kavach-go/store"
)

// auditInsertRows are the row counts of the prepared audit inserts, largest first. A batch
// is written with the largest that fit, so any batch takes few statements, each prepared
// once when the store opens rather than in every transaction.
var auditInsertRows = [...]int{64, 32, 16, 8, 4, 2, 1}

const auditColumnCount = 24

// auditStmts are the ledger's statements, prepared on the writer's connection. A
// transaction uses them through Tx.StmtContext, which finds them prepared on its
// connection (and prepares them again only on a new one).
type auditStmts struct {
	insert [len(auditInsertRows)]*sql.Stmt
	head   *sql.Stmt
	upsert *sql.Stmt
}

func prepareAudit(ctx context.Context, w *sql.DB) (*auditStmts, error) {
	var st auditStmts
	queries := map[**sql.Stmt]string{
		&st.head: `SELECT seq, hash FROM audit_heads WHERE tenant_id = ?`,
		&st.upsert: `INSERT INTO audit_heads (tenant_id, seq, hash) VALUES (?,?,?)
			ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
	}
	for i, n := range auditInsertRows {
		queries[&st.insert[i]] = auditInsertSQL(n)
	}
	for dst, q := range queries {
		stmt, err := w.PrepareContext(ctx, q)
		if err != nil {
			st.close()
			return nil, mapErr(err, "prepare audit statements")
		}
		*dst = stmt
	}
	return &st, nil
}

func (st *auditStmts) close() error {
	var errs []error
	for _, stmt := range append(st.insert[:], st.head, st.upsert) {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}

// auditInsertSQL inserts n events with one statement. A conflict rolls the whole
// transaction back, as the caller would anyway, so SQLite keeps no statement journal to
// undo a statement alone.
func auditInsertSQL(n int) string {
	row := "(" + strings.Repeat("?,", auditColumnCount-1) + "?)"
	return `INSERT OR ROLLBACK INTO audit_events (` + auditColumns + `) VALUES ` + strings.Repeat(row+",", n-1) + row
}

// appendChain extends each tenant's chain with events inside tx.
func (s *Store) appendChain(ctx context.Context, tx *sql.Tx, events []*store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	tenants, groups := store.ByTenant(events)
	for _, tenant := range tenants {
		seq, hash, err := scanHead(tx.StmtContext(ctx, s.audit.head).QueryRowContext(ctx, tenant))
		if err != nil {
			return err
		}
		if seq, hash, err = store.PrepareChain(groups[tenant], seq, hash); err != nil {
			return err
		}
		if err := s.insertAudit(ctx, tx, groups[tenant]); err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, s.audit.upsert).ExecContext(ctx, tenant, seq, hash); err != nil {
			return mapErr(err, "audit head")
		}
	}
	return nil
}

// insertAudit writes chained events, as many to a statement as the prepared inserts allow.
func (s *Store) insertAudit(ctx context.Context, tx *sql.Tx, events []*store.AuditEvent) error {
	args := make([]any, 0, min(len(events), auditInsertRows[0])*auditColumnCount)
	for i, n := range auditInsertRows {
		var stmt *sql.Stmt
		for len(events) >= n {
			if stmt == nil {
				stmt = tx.StmtContext(ctx, s.audit.insert[i])
			}
			args = args[:0]
			for _, e := range events[:n] {
				var err error
				if args, err = appendAuditArgs(args, e); err != nil {
					return err
				}
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return mapErr(err, "audit events from "+events[0].ID)
			}
			events = events[n:]
		}
	}
	return nil
}

// appendAuditArgs appends a chained event's column values in auditColumns order.
func appendAuditArgs(args []any, e *store.AuditEvent) ([]any, error) {
	via, err := store.EncodeList(e.Via)
	if err != nil {
		return nil, err
	}
	var arguments, trace any // NULL
	if e.ArgumentsJSON != "" {
		arguments = e.ArgumentsJSON
	}
	if e.TraceID != "" {
		trace = e.TraceID
	}
	return append(args, e.TenantID, e.Seq, e.ID, micros(e.Time), e.Kind, e.AgentID, e.OwnerID,
		e.Actor, e.Action, e.Resource, arguments, e.Result, e.Code, e.Reason,
		e.DurationNS, e.IP, e.UserAgent, e.Grant, via, e.ApprovalID, e.Revision, trace, e.PrevHash, e.Hash), nil
}
