package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

const apiKeyColumns = `id, coalesce(tenant_id, ''), owner_id, role, name, prefix, created_by, created_at, revoked_at`

func scanAPIKey(row pgx.Row) (*agent.APIKey, error) {
	var k agent.APIKey
	if err := row.Scan(&k.ID, &k.TenantID, &k.OwnerID, &k.Role, &k.Name, &k.Prefix, &k.CreatedBy, &k.CreatedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if k.RevokedAt != nil {
		t := k.RevokedAt.UTC()
		k.RevokedAt = &t
	}
	return &k, nil
}

// insertAPIKey writes a key; a root key's empty tenant is stored as NULL.
func insertAPIKey(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, k *agent.APIKey, hash string) error {
	_, err := db.Exec(ctx, `INSERT INTO api_keys (id, tenant_id, owner_id, role, name, prefix, created_by,
		created_at, revoked_at, hash) VALUES ($1, nullif($2, ''), $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.ID, k.TenantID, k.OwnerID, k.Role, k.Name, k.Prefix, k.CreatedBy, k.CreatedAt, k.RevokedAt, hash)
	return mapErr(err, "create API key "+k.ID)
}

// CreateAPIKey stores a new API key, with the audit events attached to ctx.
func (s *Store) CreateAPIKey(ctx context.Context, k *agent.APIKey, hash string) error {
	return s.write(ctx, func(tx pgx.Tx) error { return insertAPIKey(ctx, tx, k, hash) })
}

// BootstrapAPIKey stores k if the table is empty. The table lock (which still admits
// readers) makes instances starting together on an empty database serialise here.
func (s *Store) BootstrapAPIKey(ctx context.Context, k *agent.APIKey, hash string) (bool, error) {
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE api_keys IN EXCLUSIVE MODE`); err != nil {
			return mapErr(err, "bootstrap API key")
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys)`).Scan(&exists); err != nil || exists {
			return mapErr(err, "bootstrap API key")
		}
		if err := insertAPIKey(ctx, tx, k, hash); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// GetAPIKey returns one key.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*agent.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	return k, mapErr(err, "API key "+id)
}

// APIKeyByHash finds a key by the hash of its secret.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*agent.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	return k, mapErr(err, "API key")
}

// ListAPIKeys returns keys in id order.
func (s *Store) ListAPIKeys(ctx context.Context, f store.APIKeyFilter) ([]*agent.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE ($1 OR tenant_id IS NOT DISTINCT FROM nullif($2, '')) AND ($3 = '' OR owner_id = $3)
		ORDER BY id LIMIT $4`, f.AllTenants, f.TenantID, f.OwnerID, store.PageLimit(f.Limit))
	if err != nil {
		return nil, mapErr(err, "list API keys")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*agent.APIKey, error) { return scanAPIKey(r) })
	return out, mapErr(err, "list API keys")
}

// RevokeAPIKey marks a key revoked, keeping the first revocation time, with the audit
// events attached to ctx.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) (*agent.APIKey, error) {
	var out *agent.APIKey
	err := s.write(ctx, func(tx pgx.Tx) error {
		k, err := scanAPIKey(tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1)
			WHERE id = $2 RETURNING `+apiKeyColumns, at, id))
		out = k
		return mapErr(err, "API key "+id)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
