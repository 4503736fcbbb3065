package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

const delegationColumns = `id, tenant_id, from_agent_id, to_agent_id, permissions, depth, max_depth,
	expires_at, status, created_by, created_at, revoked_at`

func scanDelegation(row rowScanner) (*agent.Delegation, error) {
	var (
		d                agent.Delegation
		perms, status    string
		expires, revoked sql.NullInt64
		created          int64
	)
	if err := row.Scan(&d.ID, &d.TenantID, &d.FromAgentID, &d.ToAgentID, &perms, &d.Depth, &d.MaxDepth,
		&expires, &status, &d.CreatedBy, &created, &revoked); err != nil {
		return nil, err
	}
	d.Status, d.CreatedAt = agent.DelegationStatus(status), fromMicros(created)
	d.ExpiresAt, d.RevokedAt = timeOrNil(expires), timeOrNil(revoked)
	if err := store.DecodePermissions(perms, &d.Permissions); err != nil {
		return nil, fmt.Errorf("decode permissions of %s: %w", d.ID, err)
	}
	return &d, nil
}

// CreateDelegation stores a new delegation, with the audit events attached to ctx.
func (s *Store) CreateDelegation(ctx context.Context, d *agent.Delegation) error {
	perms, err := store.EncodePermissions(d.Permissions)
	if err != nil {
		return err
	}
	return s.write(ctx, "create delegation "+d.ID, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO delegations (`+delegationColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
			d.ID, d.TenantID, d.FromAgentID, d.ToAgentID, perms, d.Depth, d.MaxDepth, nullMicros(d.ExpiresAt),
			string(d.Status), d.CreatedBy, micros(d.CreatedAt), nullMicros(d.RevokedAt))
		return mapErr(err, "create delegation "+d.ID)
	})
}

// GetDelegation returns one delegation.
func (s *Store) GetDelegation(ctx context.Context, id string) (*agent.Delegation, error) {
	d, err := scanDelegation(s.r.QueryRowContext(ctx, `SELECT `+delegationColumns+` FROM delegations WHERE id = ?`, id))
	return d, mapErr(err, "delegation "+id)
}

// ListDelegations returns a tenant's delegations, oldest first.
func (s *Store) ListDelegations(ctx context.Context, f store.DelegationFilter) ([]*agent.Delegation, error) {
	q := `SELECT ` + delegationColumns + ` FROM delegations WHERE tenant_id = ?`
	args := []any{f.TenantID}
	if f.AgentID != "" {
		switch f.Direction {
		case store.DirectionFrom:
			q += ` AND from_agent_id = ?`
			args = append(args, f.AgentID)
		case store.DirectionTo:
			q += ` AND to_agent_id = ?`
			args = append(args, f.AgentID)
		case "":
			q += ` AND (from_agent_id = ? OR to_agent_id = ?)`
			args = append(args, f.AgentID, f.AgentID)
		default:
			return nil, fmt.Errorf("list delegations: unknown direction %q", f.Direction)
		}
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(f.Status))
	}
	q += ` ORDER BY created_at, id LIMIT ?`
	args = append(args, store.PageLimit(f.Limit))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "list delegations")
	}
	defer rows.Close()
	var out []*agent.Delegation
	for rows.Next() {
		d, err := scanDelegation(rows)
		if err != nil {
			return nil, mapErr(err, "list delegations")
		}
		out = append(out, d)
	}
	return out, mapErr(rows.Err(), "list delegations")
}

// UpdateDelegation applies fn to the delegation inside a write transaction, with the audit
// events attached to ctx. Only status, revocation time, expiry and permissions are written
// back; the tenant, the two agents and the creation time never change.
func (s *Store) UpdateDelegation(ctx context.Context, id string, fn func(*agent.Delegation) error) (*agent.Delegation, error) {
	var out *agent.Delegation
	err := s.write(ctx, "update delegation "+id, func(tx *sql.Tx) error {
		d, err := scanDelegation(tx.QueryRowContext(ctx, `SELECT `+delegationColumns+` FROM delegations WHERE id = ?`, id))
		if err != nil {
			return mapErr(err, "delegation "+id)
		}
		if err := fn(d); err != nil {
			return err
		}
		perms, err := store.EncodePermissions(d.Permissions)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE delegations SET status = ?, revoked_at = ?, expires_at = ?,
			permissions = ? WHERE id = ?`,
			string(d.Status), nullMicros(d.RevokedAt), nullMicros(d.ExpiresAt), perms, id); err != nil {
			return mapErr(err, "update delegation "+id)
		}
		out = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AllDelegations calls fn for every active delegation in id order, reading rows as fn
// consumes them.
func (s *Store) AllDelegations(ctx context.Context, fn func(*agent.Delegation) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT `+delegationColumns+` FROM delegations
		WHERE status = 'active' ORDER BY id`)
	if err != nil {
		return mapErr(err, "all delegations")
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDelegation(rows)
		if err != nil {
			return mapErr(err, "all delegations")
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return mapErr(rows.Err(), "all delegations")
}
