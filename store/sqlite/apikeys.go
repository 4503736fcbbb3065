package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

const apiKeyColumns = `id, tenant_id, owner_id, role, name, prefix, created_by, created_at, revoked_at`

func scanAPIKey(row rowScanner) (*agent.APIKey, error) {
	var (
		k       agent.APIKey
		tenant  sql.NullString
		created int64
		revoked sql.NullInt64
	)
	if err := row.Scan(&k.ID, &tenant, &k.OwnerID, &k.Role, &k.Name, &k.Prefix, &k.CreatedBy, &created, &revoked); err != nil {
		return nil, err
	}
	k.TenantID, k.CreatedAt = tenant.String, fromMicros(created)
	if revoked.Valid {
		t := fromMicros(revoked.Int64)
		k.RevokedAt = &t
	}
	return &k, nil
}

// nullText stores "" as NULL: a root key has no tenant.
func nullText(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func insertAPIKey(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, k *agent.APIKey, hash string) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`, hash) VALUES (?,?,?,?,?,?,?,?,?,?)`,
		k.ID, nullText(k.TenantID), k.OwnerID, k.Role, k.Name, k.Prefix, k.CreatedBy, micros(k.CreatedAt),
		nullMicros(k.RevokedAt), hash)
	return mapErr(err, "create API key "+k.ID)
}

// CreateAPIKey stores a new API key, with the audit events attached to ctx.
func (s *Store) CreateAPIKey(ctx context.Context, k *agent.APIKey, hash string) error {
	return s.write(ctx, "create API key "+k.ID, func(tx *sql.Tx) error { return insertAPIKey(ctx, tx, k, hash) })
}

// BootstrapAPIKey stores k if the table is empty. The write transaction begins IMMEDIATE,
// so the check and the insert cannot interleave with another writer.
func (s *Store) BootstrapAPIKey(ctx context.Context, k *agent.APIKey, hash string) (bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, mapErr(err, "bootstrap API key")
	}
	defer tx.Rollback()
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys)`).Scan(&exists); err != nil || exists {
		return false, mapErr(err, "bootstrap API key")
	}
	if err := insertAPIKey(ctx, tx, k, hash); err != nil {
		return false, err
	}
	return true, mapErr(tx.Commit(), "bootstrap API key")
}

// GetAPIKey returns one key.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*agent.APIKey, error) {
	k, err := scanAPIKey(s.r.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`, id))
	return k, mapErr(err, "API key "+id)
}

// APIKeyByHash finds a key by the hash of its secret.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*agent.APIKey, error) {
	k, err := scanAPIKey(s.r.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	return k, mapErr(err, "API key")
}

// ListAPIKeys returns keys in id order.
func (s *Store) ListAPIKeys(ctx context.Context, f store.APIKeyFilter) ([]*agent.APIKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE (?1 OR tenant_id IS ?2) AND (?3 = '' OR owner_id = ?3)
		ORDER BY id LIMIT ?4`, f.AllTenants, nullText(f.TenantID), f.OwnerID, store.PageLimit(f.Limit))
	if err != nil {
		return nil, mapErr(err, "list API keys")
	}
	defer rows.Close()
	var out []*agent.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, mapErr(err, "list API keys")
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err(), "list API keys")
}

// RevokeAPIKey marks a key revoked, keeping the first revocation time, with the audit
// events attached to ctx.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) (*agent.APIKey, error) {
	var out *agent.APIKey
	err := s.write(ctx, "revoke API key "+id, func(tx *sql.Tx) error {
		k, err := scanAPIKey(tx.QueryRowContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?)
			WHERE id = ? RETURNING `+apiKeyColumns, micros(at), id))
		out = k
		return mapErr(err, "API key "+id)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
