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
	var row auditRow
	for i, n := range auditInsertRows {
		var stmt *sql.Stmt
		for len(events) >= n {
			if stmt == nil {
				stmt = tx.StmtContext(ctx, s.audit.insert[i])
			}
			args = args[:0]
			for _, e := range events[:n] {
				var err error
				if args, err = row.append(args, e); err != nil {
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

// auditRow is the column values of the row written last, as database/sql was given them.
// Boxing a string into an interface allocates, and consecutive events repeat most of their
// columns — the tenant, the agent and its owner, the kind, the action, the revision — while
// each event's prev_hash is the hash of the one before, so a value equal to the previous
// row's is passed as the same boxed value.
type auditRow [auditColumnCount]any

// Columns of auditColumns that auditRow.append reads back.
const (
	colPrevHash = auditColumnCount - 2
	colHash     = auditColumnCount - 1
)

// append appends a chained event's column values in auditColumns order.
func (r *auditRow) append(args []any, e *store.AuditEvent) ([]any, error) {
	via, err := store.EncodeList(e.Via)
	if err != nil {
		return nil, err
	}
	if h, ok := r[colHash].(string); ok && h == e.PrevHash {
		r[colPrevHash] = r[colHash]
	} else {
		r[colPrevHash] = e.PrevHash
	}
	r.set(0, e.TenantID)
	r[1] = e.Seq
	r.set(2, e.ID)
	r[3] = micros(e.Time)
	r.set(4, e.Kind)
	r.set(5, e.AgentID)
	r.set(6, e.OwnerID)
	r.set(7, e.Actor)
	r.set(8, e.Action)
	r.set(9, e.Resource)
	r.setOrNull(10, e.ArgumentsJSON)
	r.set(11, e.Result)
	r.set(12, e.Code)
	r.set(13, e.Reason)
	r[14] = e.DurationNS
	r.set(15, e.IP)
	r.set(16, e.UserAgent)
	r.set(17, e.Grant)
	r.set(18, via)
	r.set(19, e.ApprovalID)
	r.set(20, e.Revision)
	r.setOrNull(21, e.TraceID)
	r[colHash] = e.Hash
	return append(args, r[:]...), nil
}

// set makes column i hold s, boxed anew only if the row before held another value.
func (r *auditRow) set(i int, s string) {
	if prev, ok := r[i].(string); !ok || prev != s {
		r[i] = s
	}
}

// setOrNull is set, with NULL for "".
func (r *auditRow) setOrNull(i int, s string) {
	if s == "" {
		r[i] = nil
		return
	}
	r.set(i, s)
}
