package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kavachos/kavach-go/store"
)

// CreateOAuthClient stores a registered client.
func (s *Store) CreateOAuthClient(ctx context.Context, c *store.OAuthClient) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth_clients (id, secret_hash, metadata, created_at)
		VALUES ($1, nullif($2, ''), $3, $4)`, c.ID, c.SecretHash, c.Metadata, c.CreatedAt)
	return mapErr(err, "create OAuth client")
}

// GetOAuthClient returns a registered client.
func (s *Store) GetOAuthClient(ctx context.Context, id string) (*store.OAuthClient, error) {
	var c store.OAuthClient
	err := s.pool.QueryRow(ctx, `SELECT id, coalesce(secret_hash, ''), metadata, created_at FROM oauth_clients WHERE id = $1`, id).
		Scan(&c.ID, &c.SecretHash, &c.Metadata, &c.CreatedAt)
	if err != nil {
		return nil, mapErr(err, "OAuth client")
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return &c, nil
}

const authRequestColumns = `doc, coalesce(code_hash, ''), code_used_at`

func scanAuthRequest(row pgx.Row) (*store.OAuthAuthRequest, error) {
	var (
		doc, code string
		used      *time.Time
	)
	if err := row.Scan(&doc, &code, &used); err != nil {
		return nil, err
	}
	var r store.OAuthAuthRequest
	if err := store.DecodeOAuthDoc(doc, &r); err != nil {
		return nil, err
	}
	r.CodeHash, r.CodeUsedAt = code, utcPtr(used)
	return &r, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// CreateOAuthAuthRequest stores a new authorization request.
func (s *Store) CreateOAuthAuthRequest(ctx context.Context, r *store.OAuthAuthRequest) error {
	doc, err := store.EncodeOAuthDoc(r)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO oauth_auth_requests (id, client_id, code_hash, code_used_at, doc, created_at,
		expires_at) VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7)`, r.ID, r.ClientID, r.CodeHash, r.CodeUsedAt, doc,
		r.CreatedAt, r.ExpiresAt)
	return mapErr(err, "create OAuth auth request")
}

// GetOAuthAuthRequest returns an authorization request.
func (s *Store) GetOAuthAuthRequest(ctx context.Context, id string) (*store.OAuthAuthRequest, error) {
	r, err := scanAuthRequest(s.pool.QueryRow(ctx, `SELECT `+authRequestColumns+` FROM oauth_auth_requests WHERE id = $1`, id))
	return r, mapErr(err, "OAuth auth request")
}

// UpdateOAuthAuthRequest applies fn to a request under a row lock.
func (s *Store) UpdateOAuthAuthRequest(ctx context.Context, id string, fn func(*store.OAuthAuthRequest) error) (*store.OAuthAuthRequest, error) {
	var out *store.OAuthAuthRequest
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		r, err := scanAuthRequest(tx.QueryRow(ctx, `SELECT `+authRequestColumns+` FROM oauth_auth_requests WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return mapErr(err, "OAuth auth request")
		}
		if err := fn(r); err != nil {
			return err
		}
		doc, err := store.EncodeOAuthDoc(r)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE oauth_auth_requests SET code_hash = nullif($1, ''), code_used_at = $2, doc = $3,
			expires_at = $4 WHERE id = $5`, r.CodeHash, r.CodeUsedAt, doc, r.ExpiresAt, id); err != nil {
			return mapErr(err, "update OAuth auth request")
		}
		out = r
		return nil
	})
	return out, err
}

// OAuthAuthRequestByCode finds the request holding a code.
func (s *Store) OAuthAuthRequestByCode(ctx context.Context, codeHash string) (*store.OAuthAuthRequest, error) {
	r, err := scanAuthRequest(s.pool.QueryRow(ctx, `SELECT `+authRequestColumns+` FROM oauth_auth_requests WHERE code_hash = $1`, codeHash))
	return r, mapErr(err, "OAuth code")
}

// UseOAuthCode marks a live code used; the conditional update makes it single-use.
func (s *Store) UseOAuthCode(ctx context.Context, codeHash string, now time.Time) (*store.OAuthAuthRequest, error) {
	r, err := scanAuthRequest(s.pool.QueryRow(ctx, `UPDATE oauth_auth_requests SET code_used_at = $1
		WHERE code_hash = $2 AND code_used_at IS NULL AND expires_at > $1 RETURNING `+authRequestColumns, now, codeHash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, codeUnusable(s.OAuthAuthRequestByCode(ctx, codeHash))
	}
	return r, mapErr(err, "use OAuth code")
}

// codeUnusable says why a code could not be used: already used (a replay) or gone.
func codeUnusable(r *store.OAuthAuthRequest, err error) error {
	if err != nil {
		return err
	}
	if r.CodeUsedAt != nil {
		return fmt.Errorf("OAuth code already used: %w", store.ErrConflict)
	}
	return fmt.Errorf("OAuth code expired: %w", store.ErrNotFound)
}

// DeleteOAuthAuthRequest removes a request.
func (s *Store) DeleteOAuthAuthRequest(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM oauth_auth_requests WHERE id = $1`, id)
	return mapErr(err, "delete OAuth auth request")
}

const tokenColumns = `doc, rotated_at, revoked_at`

func scanToken(row pgx.Row) (*store.OAuthToken, error) {
	var (
		doc              string
		rotated, revoked *time.Time
	)
	if err := row.Scan(&doc, &rotated, &revoked); err != nil {
		return nil, err
	}
	var t store.OAuthToken
	if err := store.DecodeOAuthDoc(doc, &t); err != nil {
		return nil, err
	}
	t.RotatedAt, t.RevokedAt = utcPtr(rotated), utcPtr(revoked)
	return &t, nil
}

func insertToken(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, t *store.OAuthToken, hash string) error {
	doc, err := store.EncodeOAuthDoc(t)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, `INSERT INTO oauth_tokens (id, kind, hash, grant_id, client_id, doc, created_at, expires_at,
		rotated_at, revoked_at) VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7, $8, $9, $10)`, t.ID, t.Kind, hash, t.GrantID,
		t.ClientID, doc, t.CreatedAt, t.ExpiresAt, t.RotatedAt, t.RevokedAt)
	return mapErr(err, "create OAuth token")
}

// CreateOAuthToken stores an issued token, with the audit events attached to ctx.
func (s *Store) CreateOAuthToken(ctx context.Context, t *store.OAuthToken, hash string) error {
	return s.write(ctx, func(tx pgx.Tx) error { return insertToken(ctx, tx, t, hash) })
}

// GetOAuthToken returns a token by id.
func (s *Store) GetOAuthToken(ctx context.Context, id string) (*store.OAuthToken, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM oauth_tokens WHERE id = $1`, id))
	return t, mapErr(err, "OAuth token")
}

// OAuthTokenByHash finds a refresh token by hash.
func (s *Store) OAuthTokenByHash(ctx context.Context, hash string) (*store.OAuthToken, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM oauth_tokens WHERE hash = $1`, hash))
	return t, mapErr(err, "OAuth token")
}

// RotateRefreshToken retires a live refresh token and stores its successor in one
// transaction; the conditional update lets only one concurrent rotation through.
func (s *Store) RotateRefreshToken(ctx context.Context, oldID string, next *store.OAuthToken, nextHash string, now time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE oauth_tokens SET rotated_at = $1 WHERE id = $2 AND kind = 'refresh'
			AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $1`, now, oldID)
		if err != nil {
			return mapErr(err, "rotate refresh token")
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("refresh token %s is not live: %w", oldID, store.ErrConflict)
		}
		return insertToken(ctx, tx, next, nextHash)
	})
}

// RevokeOAuthToken marks a token revoked, keeping the first time.
func (s *Store) RevokeOAuthToken(ctx context.Context, id string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE oauth_tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, now, id)
	if err != nil {
		return mapErr(err, "revoke OAuth token")
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("OAuth token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// RevokeOAuthGrant revokes every token of one authorization.
func (s *Store) RevokeOAuthGrant(ctx context.Context, grantID string, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE oauth_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL`, now, grantID)
	if err != nil {
		return 0, mapErr(err, "revoke OAuth grant")
	}
	return tag.RowsAffected(), nil
}

// GetOAuthConsent returns an owner's consent for a client.
func (s *Store) GetOAuthConsent(ctx context.Context, tenantID, ownerID, clientID string) (*store.OAuthConsent, error) {
	var doc string
	err := s.pool.QueryRow(ctx, `SELECT doc FROM oauth_consents WHERE tenant_id = $1 AND owner_id = $2 AND client_id = $3`,
		tenantID, ownerID, clientID).Scan(&doc)
	if err != nil {
		return nil, mapErr(err, "OAuth consent")
	}
	var c store.OAuthConsent
	return &c, store.DecodeOAuthDoc(doc, &c)
}

// PutOAuthConsent stores or replaces a consent.
func (s *Store) PutOAuthConsent(ctx context.Context, c *store.OAuthConsent) error {
	doc, err := store.EncodeOAuthDoc(c)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO oauth_consents (tenant_id, owner_id, client_id, doc, updated_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, owner_id, client_id) DO UPDATE SET doc = excluded.doc,
		updated_at = excluded.updated_at`, c.TenantID, c.OwnerID, c.ClientID, doc, c.UpdatedAt)
	return mapErr(err, "store OAuth consent")
}

// CreateOAuthSigningKey stores a signing key.
func (s *Store) CreateOAuthSigningKey(ctx context.Context, k *store.OAuthSigningKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth_signing_keys (id, algorithm, private_key, created_at, active_from)
		VALUES ($1, $2, $3, $4, $5)`, k.ID, k.Algorithm, k.PrivateKey, k.CreatedAt, k.ActiveFrom)
	return mapErr(err, "create OAuth signing key")
}

// ListOAuthSigningKeys returns every signing key, oldest first.
func (s *Store) ListOAuthSigningKeys(ctx context.Context) ([]*store.OAuthSigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, algorithm, private_key, created_at, active_from FROM oauth_signing_keys
		ORDER BY active_from, id`)
	if err != nil {
		return nil, mapErr(err, "list OAuth signing keys")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.OAuthSigningKey, error) {
		var k store.OAuthSigningKey
		if err := r.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.CreatedAt, &k.ActiveFrom); err != nil {
			return nil, err
		}
		k.CreatedAt, k.ActiveFrom = k.CreatedAt.UTC(), k.ActiveFrom.UTC()
		return &k, nil
	})
	return out, mapErr(err, "list OAuth signing keys")
}

// DeleteOAuthSigningKey removes a signing key.
func (s *Store) DeleteOAuthSigningKey(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM oauth_signing_keys WHERE id = $1`, id)
	return mapErr(err, "delete OAuth signing key")
}

// PruneOAuth deletes requests and tokens that expired before before.
func (s *Store) PruneOAuth(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range []string{`DELETE FROM oauth_auth_requests WHERE expires_at < $1`, `DELETE FROM oauth_tokens WHERE expires_at < $1`} {
			tag, err := tx.Exec(ctx, q, before)
			if err != nil {
				return mapErr(err, "prune OAuth state")
			}
			total += tag.RowsAffected()
		}
		return nil
	})
	return total, err
}
