package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

const approvalColumns = `id, tenant_id, agent_id, owner_id, permission_id, action, resource, args_hash,
	arguments::text, approvers::text, grant_ttl_ns, status, expires_at, created_at, decided_by,
	decided_at, reason, uses_left, grant_expires_at`

func scanApproval(row pgx.Row) (*agent.ApprovalRequest, error) {
	var (
		r      agent.ApprovalRequest
		docs   store.ApprovalDocs
		status string
		ttl    int64
	)
	if err := row.Scan(&r.ID, &r.TenantID, &r.AgentID, &r.OwnerID, &r.PermissionID, &r.Action, &r.Resource,
		&r.ArgsHash, &docs.Arguments, &docs.Approvers, &ttl, &status, &r.ExpiresAt, &r.CreatedAt,
		&r.DecidedBy, &r.DecidedAt, &r.Reason, &r.UsesLeft, &r.GrantExpiresAt); err != nil {
		return nil, err
	}
	r.GrantTTL, r.Status = agent.Duration(ttl), agent.ApprovalStatus(status)
	r.ExpiresAt, r.CreatedAt = r.ExpiresAt.UTC(), r.CreatedAt.UTC()
	r.DecidedAt, r.GrantExpiresAt = utcOrNil(r.DecidedAt), utcOrNil(r.GrantExpiresAt)
	if err := store.DecodeApprovalDocs(&r, docs); err != nil {
		return nil, err
	}
	return &r, nil
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// OpenApproval returns the live pending request with r's key or stores r. The partial
// unique index on pending keys decides which: a racing insert waits for the other
// transaction and then finds its row.
func (s *Store) OpenApproval(ctx context.Context, r *agent.ApprovalRequest, now time.Time) (*agent.ApprovalRequest, bool, error) {
	if r.Status != agent.ApprovalPending {
		return nil, false, fmt.Errorf("open approval %s: status is %q, want %q", r.ID, r.Status, agent.ApprovalPending)
	}
	docs, err := store.EncodeApprovalDocs(r)
	if err != nil {
		return nil, false, err
	}
	key := r.Key()
	var (
		out     *agent.ApprovalRequest
		created bool
	)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A lapsed pending request no longer holds its key.
		if _, err := tx.Exec(ctx, `UPDATE approvals SET status = 'expired'
			WHERE approval_key = $1 AND status = 'pending' AND expires_at <= $2`, key, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO approvals (approval_key, id, tenant_id, agent_id, owner_id,
			permission_id, action, resource, args_hash, arguments, approvers, grant_ttl_ns, status,
			expires_at, created_at, decided_by, decided_at, reason, uses_left, grant_expires_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)
			ON CONFLICT (approval_key) WHERE status = 'pending' DO NOTHING`,
			key, r.ID, r.TenantID, r.AgentID, r.OwnerID, r.PermissionID, r.Action, r.Resource, r.ArgsHash,
			docs.Arguments, docs.Approvers, int64(r.GrantTTL), string(r.Status), r.ExpiresAt,
			r.CreatedAt, r.DecidedBy, r.DecidedAt, r.Reason, r.UsesLeft, r.GrantExpiresAt)
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		out, err = scanApproval(tx.QueryRow(ctx, `SELECT `+approvalColumns+` FROM approvals
			WHERE approval_key = $1 AND status = 'pending'`, key))
		return err
	})
	if err != nil {
		return nil, false, mapErr(err, "open approval "+r.ID)
	}
	return out, created, nil
}

// CurrentApproval returns the request that governs the key at now.
func (s *Store) CurrentApproval(ctx context.Context, key string, now time.Time) (*agent.ApprovalRequest, error) {
	r, err := scanApproval(s.pool.QueryRow(ctx, `SELECT `+approvalColumns+` FROM approvals
		WHERE approval_key = $1 ORDER BY
			(status = 'approved' AND uses_left > 0 AND (grant_expires_at IS NULL OR grant_expires_at > $2)) DESC,
			(status = 'denied' AND expires_at > $2) DESC,
			created_at DESC, id DESC
		LIMIT 1`, key, now))
	return r, mapErr(err, "approval with key "+key)
}

// GetApproval returns one request.
func (s *Store) GetApproval(ctx context.Context, id string) (*agent.ApprovalRequest, error) {
	r, err := scanApproval(s.pool.QueryRow(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = $1`, id))
	return r, mapErr(err, "approval "+id)
}

// ListApprovals returns a tenant's requests, newest first. A status filter matches the
// status as of f.Now, the way agent.ApprovalRequest.EffectiveStatus reports it.
func (s *Store) ListApprovals(ctx context.Context, f store.ApprovalFilter) ([]*agent.ApprovalRequest, error) {
	q := `SELECT ` + approvalColumns + ` FROM approvals
		WHERE tenant_id = $1 AND ($2 = '' OR agent_id = $2) AND ($3 = '' OR owner_id = $3 OR approvers ? $3)`
	args := []any{f.TenantID, f.AgentID, f.Visible}
	if f.Status != "" {
		cond, ok := statusConditions[f.Status]
		if !ok {
			return nil, nil
		}
		if strings.Contains(cond, "$now") {
			args = append(args, f.Now)
			cond = strings.ReplaceAll(cond, "$now", fmt.Sprintf("$%d", len(args)))
		}
		q += ` AND ` + cond
	}
	args = append(args, store.PageLimit(f.Limit))
	q += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "list approvals")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*agent.ApprovalRequest, error) { return scanApproval(r) })
	return out, mapErr(err, "list approvals")
}

// statusConditions are agent.ApprovalRequest.EffectiveStatus in SQL, at $now.
var statusConditions = map[agent.ApprovalStatus]string{
	agent.ApprovalPending: `(status = 'pending' AND expires_at > $now)`,
	agent.ApprovalDenied:  `(status = 'denied' AND expires_at > $now)`,
	agent.ApprovalApproved: `(status = 'approved' AND uses_left > 0
		AND (grant_expires_at IS NULL OR grant_expires_at > $now))`,
	agent.ApprovalUsed: `(status = 'used' OR (status = 'approved' AND uses_left <= 0))`,
	agent.ApprovalExpired: `(status = 'expired'
		OR (status IN ('pending', 'denied') AND expires_at <= $now)
		OR (status = 'approved' AND uses_left > 0 AND grant_expires_at <= $now))`,
}

// UpdateApproval applies fn to the request under a row lock, with the audit events
// attached to ctx. The key fields (agent, permission, action, resource, arguments) are not
// written back.
func (s *Store) UpdateApproval(ctx context.Context, id string, fn func(*agent.ApprovalRequest) error) (*agent.ApprovalRequest, error) {
	var out *agent.ApprovalRequest
	err := s.write(ctx, func(tx pgx.Tx) error {
		r, err := scanApproval(tx.QueryRow(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = $1 FOR UPDATE`, id))
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
		if _, err := tx.Exec(ctx, `UPDATE approvals SET owner_id = $1, approvers = $2, grant_ttl_ns = $3,
			status = $4, expires_at = $5, decided_by = $6, decided_at = $7, reason = $8, uses_left = $9,
			grant_expires_at = $10 WHERE id = $11`,
			r.OwnerID, approvers, int64(r.GrantTTL), string(r.Status), r.ExpiresAt, r.DecidedBy,
			r.DecidedAt, r.Reason, r.UsesLeft, r.GrantExpiresAt, id); err != nil {
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
