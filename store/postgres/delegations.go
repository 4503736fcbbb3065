package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

const delegationColumns = `id, tenant_id, from_agent_id, to_agent_id, permissions::text, depth, max_depth,
	expires_at, status, created_by, created_at, revoked_at`

func scanDelegation(row pgx.Row) (*agent.Delegation, error) {
	var (
		d             agent.Delegation
		perms, status string
	)
	if err := row.Scan(&d.ID, &d.TenantID, &d.FromAgentID, &d.ToAgentID, &perms, &d.Depth, &d.MaxDepth,
		&d.ExpiresAt, &status, &d.CreatedBy, &d.CreatedAt, &d.RevokedAt); err != nil {
		return nil, err
	}
	d.Status, d.CreatedAt = agent.DelegationStatus(status), d.CreatedAt.UTC()
	d.ExpiresAt, d.RevokedAt = utcOrNil(d.ExpiresAt), utcOrNil(d.RevokedAt)
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
	err = s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO delegations (id, tenant_id, from_agent_id, to_agent_id,
			permissions, depth, max_depth, expires_at, status, created_by, created_at, revoked_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
			d.ID, d.TenantID, d.FromAgentID, d.ToAgentID, perms, d.Depth, d.MaxDepth, d.ExpiresAt,
			string(d.Status), d.CreatedBy, d.CreatedAt, d.RevokedAt)
		return err
	})
	return mapErr(err, "create delegation "+d.ID)
}

// GetDelegation returns one delegation.
func (s *Store) GetDelegation(ctx context.Context, id string) (*agent.Delegation, error) {
	d, err := scanDelegation(s.pool.QueryRow(ctx, `SELECT `+delegationColumns+` FROM delegations WHERE id = $1`, id))
	return d, mapErr(err, "delegation "+id)
}

// ListDelegations returns a tenant's delegations, oldest first.
func (s *Store) ListDelegations(ctx context.Context, f store.DelegationFilter) ([]*agent.Delegation, error) {
	q := `SELECT ` + delegationColumns + ` FROM delegations
		WHERE tenant_id = $1 AND ($2 = '' OR status = $2)`
	args := []any{f.TenantID, string(f.Status)}
	if f.AgentID != "" {
		args = append(args, f.AgentID)
		switch f.Direction {
		case store.DirectionFrom:
			q += ` AND from_agent_id = $3`
		case store.DirectionTo:
			q += ` AND to_agent_id = $3`
		case "":
			q += ` AND (from_agent_id = $3 OR to_agent_id = $3)`
		default:
			return nil, fmt.Errorf("list delegations: unknown direction %q", f.Direction)
		}
	}
	args = append(args, store.PageLimit(f.Limit))
	q += fmt.Sprintf(` ORDER BY created_at, id LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "list delegations")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*agent.Delegation, error) { return scanDelegation(r) })
	return out, mapErr(err, "list delegations")
}

// UpdateDelegation applies fn to the delegation under a row lock, with the audit events
// attached to ctx. Only status, revocation time, expiry and permissions are written back;
// the tenant, the two agents and the creation time never change.
func (s *Store) UpdateDelegation(ctx context.Context, id string, fn func(*agent.Delegation) error) (*agent.Delegation, error) {
	var out *agent.Delegation
	err := s.write(ctx, func(tx pgx.Tx) error {
		d, err := scanDelegation(tx.QueryRow(ctx, `SELECT `+delegationColumns+` FROM delegations WHERE id = $1 FOR UPDATE`, id))
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
		if _, err := tx.Exec(ctx, `UPDATE delegations SET status = $1, revoked_at = $2, expires_at = $3,
			permissions = $4 WHERE id = $5`,
			string(d.Status), d.RevokedAt, d.ExpiresAt, perms, id); err != nil {
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
	rows, err := s.pool.Query(ctx, `SELECT `+delegationColumns+` FROM delegations
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
