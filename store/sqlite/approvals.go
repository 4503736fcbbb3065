package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

const approvalColumns = `id, tenant_id, agent_id, owner_id, permission_id, action, resource, args_hash,
	arguments, approvers, grant_ttl_ns, status, expires_at, created_at, decided_by, decided_at,
	reason, uses_left, grant_expires_at`

func scanApproval(row rowScanner) (*agent.ApprovalRequest, error) {
	var (
		r                         agent.ApprovalRequest
		args                      sql.NullString
		approvers, status         string
		ttl, expires, created     int64
		decidedAt, grantExpiresAt sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.TenantID, &r.AgentID, &r.OwnerID, &r.PermissionID, &r.Action, &r.Resource,
		&r.ArgsHash, &args, &approvers, &ttl, &status, &expires, &created, &r.DecidedBy, &decidedAt,
		&r.Reason, &r.UsesLeft, &grantExpiresAt); err != nil {
		return nil, err
	}
	r.GrantTTL, r.Status = agent.Duration(ttl), agent.ApprovalStatus(status)
	r.ExpiresAt, r.CreatedAt = fromMicros(expires), fromMicros(created)
	r.DecidedAt, r.GrantExpiresAt = timeOrNil(decidedAt), timeOrNil(grantExpiresAt)
	docs := store.ApprovalDocs{Arguments: stringOrNil(args), Approvers: approvers}
	if err := store.DecodeApprovalDocs(&r, docs); err != nil {
		return nil, err
	}
	return &r, nil
}

func timeOrNil(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// OpenApproval returns the live pending request with r's key or stores r. The partial
// unique index on pending keys decides which, so the answer is the same however many
// callers race.
func (s *Store) OpenApproval(ctx context.Context, r *agent.ApprovalRequest, now time.Time) (*agent.ApprovalRequest, bool, error) {
	if r.Status != agent.ApprovalPending {
		return nil, false, fmt.Errorf("open approval %s: status is %q, want %q", r.ID, r.Status, agent.ApprovalPending)
	}
	docs, err := store.EncodeApprovalDocs(r)
	if err != nil {
		return nil, false, err
	}
	key := r.Key()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, mapErr(err, "open approval")
	}
	defer tx.Rollback()
	// A lapsed pending request no longer holds its key.
	if _, err := tx.ExecContext(ctx, `UPDATE approvals SET status = 'expired'
		WHERE approval_key = ? AND status = 'pending' AND expires_at <= ?`, key, micros(now)); err != nil {
		return nil, false, mapErr(err, "open approval")
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO approvals (approval_key, `+approvalColumns+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (approval_key) WHERE status = 'pending' DO NOTHING`,
		key, r.ID, r.TenantID, r.AgentID, r.OwnerID, r.PermissionID, r.Action, r.Resource, r.ArgsHash,
		nullString(docs.Arguments), docs.Approvers, int64(r.GrantTTL), string(r.Status), micros(r.ExpiresAt),
		micros(r.CreatedAt), r.DecidedBy, nullMicros(r.DecidedAt), r.Reason, r.UsesLeft, nullMicros(r.GrantExpiresAt))
	if err != nil {
		return nil, false, mapErr(err, "open approval "+r.ID)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, mapErr(err, "open approval "+r.ID)
	}
	out, err := scanApproval(tx.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals
		WHERE approval_key = ? AND status = 'pending'`, key))
	if err != nil {
		return nil, false, mapErr(err, "open approval "+r.ID)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, mapErr(err, "open approval "+r.ID)
	}
	return out, n == 1, nil
}

// CurrentApproval returns the request that governs the key at now.
func (s *Store) CurrentApproval(ctx context.Context, key string, now time.Time) (*agent.ApprovalRequest, error) {
	r, err := scanApproval(s.r.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals
		WHERE approval_key = ?1 ORDER BY
			(status = 'approved' AND uses_left > 0 AND (grant_expires_at IS NULL OR grant_expires_at > ?2)) DESC,
			(status = 'denied' AND expires_at > ?2) DESC,
			created_at DESC, id DESC
		LIMIT 1`, key, micros(now)))
	return r, mapErr(err, "approval with key "+key)
}

// GetApproval returns one request.
func (s *Store) GetApproval(ctx context.Context, id string) (*agent.ApprovalRequest, error) {
	r, err := scanApproval(s.r.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = ?`, id))
	return r, mapErr(err, "approval "+id)
}

// ListApprovals returns a tenant's requests, newest first. A status filter matches the
// status as of f.Now, the way agent.ApprovalRequest.EffectiveStatus reports it.
func (s *Store) ListApprovals(ctx context.Context, f store.ApprovalFilter) ([]*agent.ApprovalRequest, error) {
	q := `SELECT ` + approvalColumns + ` FROM approvals WHERE tenant_id = ?`
	args := []any{f.TenantID}
	if f.AgentID != "" {
		q += ` AND agent_id = ?`
		args = append(args, f.AgentID)
	}
	if f.Visible != "" {
		q += ` AND (owner_id = ? OR EXISTS (SELECT 1 FROM json_each(approvers) WHERE value = ?))`
		args = append(args, f.Visible, f.Visible)
	}
	if f.Status != "" {
		cond, ok := statusConditions[f.Status]
		if !ok {
			return nil, nil
		}
		q += ` AND ` + cond
		for range strings.Count(cond, "?") {
			args = append(args, micros(f.Now))
		}
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, store.PageLimit(f.Limit))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "list approvals")
	}
	defer rows.Close()
	var out []*agent.ApprovalRequest
	for rows.Next() {
		r, err := scanApproval(rows)
		if err != nil {
			return nil, mapErr(err, "list approvals")
		}
		out = append(out, r)
	}
	return out, mapErr(rows.Err(), "list approvals")
}

// statusConditions are agent.ApprovalRequest.EffectiveStatus in SQL; every parameter is
// the time the status is taken at.
var statusConditions = map[agent.ApprovalStatus]string{
	agent.ApprovalPending: `(status = 'pending' AND expires_at > ?)`,
	agent.ApprovalDenied:  `(status = 'denied' AND expires_at > ?)`,
	agent.ApprovalApproved: `(status = 'approved' AND uses_left > 0
		AND (grant_expires_at IS NULL OR grant_expires_at > ?))`,
	agent.ApprovalUsed: `(status = 'used' OR (status = 'approved' AND uses_left <= 0))`,
	agent.ApprovalExpired: `(status = 'expired'
		OR (status IN ('pending', 'denied') AND expires_at <= ?)
		OR (status = 'approved' AND uses_left > 0 AND grant_expires_at <= ?))`,
}

// UpdateApproval applies fn to the request inside a write transaction, with the audit
// events attached to ctx. The key fields (agent, permission, action, resource, arguments)
// are not written back.
func (s *Store) UpdateApproval(ctx context.Context, id string, fn func(*agent.ApprovalRequest) error) (*agent.ApprovalRequest, error) {
	var out *agent.ApprovalRequest
	err := s.write(ctx, "update approval "+id, func(tx *sql.Tx) error {
		r, err := scanApproval(tx.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = ?`, id))
		if err != nil {
			return mapErr(err, "approval "+id)
		}
		if err := fn(r); err != nil {
			return err
		}
		approvers, err := store.EncodeList(r.Approvers)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE approvals SET owner_id = ?, approvers = ?, grant_ttl_ns = ?,
			status = ?, expires_at = ?, decided_by = ?, decided_at = ?, reason = ?, uses_left = ?,
			grant_expires_at = ? WHERE id = ?`,
			r.OwnerID, approvers, int64(r.GrantTTL), string(r.Status), micros(r.ExpiresAt), r.DecidedBy,
			nullMicros(r.DecidedAt), r.Reason, r.UsesLeft, nullMicros(r.GrantExpiresAt), id); err != nil {
			return mapErr(err, "update approval "+id)
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// nullString and stringOrNil carry a nullable JSON document between the store codec's
// *string and SQLite's sql.NullString.
func nullString(s *string) sql.NullString {
	if s == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *s, Valid: true}
}

func stringOrNil(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	return &v.String
}
