package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kavachos/kavach-go/store"
)

// CreateOAuthClient stores a registered client.
func (s *Store) CreateOAuthClient(ctx context.Context, c *store.OAuthClient) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO oauth_clients (id, secret_hash, metadata, created_at) VALUES (?,?,?,?)`,
		c.ID, nullText(c.SecretHash), c.Metadata, micros(c.CreatedAt))
	return mapErr(err, "create OAuth client")
}

// GetOAuthClient returns a registered client.
func (s *Store) GetOAuthClient(ctx context.Context, id string) (*store.OAuthClient, error) {
	var (
		c       store.OAuthClient
		secret  sql.NullString
		created int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT id, secret_hash, metadata, created_at FROM oauth_clients WHERE id = ?`, id).
		Scan(&c.ID, &secret, &c.Metadata, &created)
	if err != nil {
		return nil, mapErr(err, "OAuth client")
	}
	c.SecretHash, c.CreatedAt = secret.String, fromMicros(created)
	return &c, nil
}

const authRequestColumns = `doc, code_hash, code_used_at`

func scanAuthRequest(row rowScanner) (*store.OAuthAuthRequest, error) {
	var (
		doc  string
		code sql.NullString
		used sql.NullInt64
	)
	if err := row.Scan(&doc, &code, &used); err != nil {
		return nil, err
	}
	var r store.OAuthAuthRequest
	if err := store.DecodeOAuthDoc(doc, &r); err != nil {
		return nil, err
	}
	r.CodeHash, r.CodeUsedAt = code.String, nil
	if used.Valid {
		t := fromMicros(used.Int64)
		r.CodeUsedAt = &t
	}
	return &r, nil
}

// CreateOAuthAuthRequest stores a new authorization request.
func (s *Store) CreateOAuthAuthRequest(ctx context.Context, r *store.OAuthAuthRequest) error {
	doc, err := store.EncodeOAuthDoc(r)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO oauth_auth_requests (id, client_id, code_hash, code_used_at, doc,
		created_at, expires_at) VALUES (?,?,?,?,?,?,?)`, r.ID, r.ClientID, nullText(r.CodeHash), nullMicros(r.CodeUsedAt),
		doc, micros(r.CreatedAt), micros(r.ExpiresAt))
	return mapErr(err, "create OAuth auth request")
}

// GetOAuthAuthRequest returns an authorization request.
func (s *Store) GetOAuthAuthRequest(ctx context.Context, id string) (*store.OAuthAuthRequest, error) {
	r, err := scanAuthRequest(s.r.QueryRowContext(ctx, `SELECT `+authRequestColumns+` FROM oauth_auth_requests WHERE id = ?`, id))
	return r, mapErr(err, "OAuth auth request")
}

// UpdateOAuthAuthRequest applies fn to a request in one write transaction.
func (s *Store) UpdateOAuthAuthRequest(ctx context.Context, id string, fn func(*store.OAuthAuthRequest) error) (*store.OAuthAuthRequest, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, mapErr(err, "update OAuth auth request")
	}
	defer tx.Rollback()
	r, err := scanAuthRequest(tx.QueryRowContext(ctx, `SELECT `+authRequestColumns+` FROM oauth_auth_requests WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr(err, "OAuth auth request")
	}
	if err := fn(r); err != nil {
		return nil, err
	}
	doc, err := store.EncodeOAuthDoc(r)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE oauth_auth_requests SET code_hash = ?, code_used_at = ?, doc = ?, expires_at = ?
		WHERE id = ?`, nullText(r.CodeHash), nullMicros(r.CodeUsedAt), doc, micros(r.ExpiresAt), id); err != nil {
		return nil, mapErr(err, "update OAuth auth request")
	}
	return r, mapErr(tx.Commit(), "update OAuth auth request")
}

// OAuthAuthRequestByCode finds the request holding a code.
func (s *Store) OAuthAuthRequestByCode(ctx context.Context, codeHash string) (*store.OAuthAuthRequest, error) {
	r, err := scanAuthRequest(s.r.QueryRowContext(ctx, `SELECT `+authRequestColumns+` FROM oauth_auth_requests WHERE code_hash = ?`, codeHash))
	return r, mapErr(err, "OAuth code")
}

// UseOAuthCode marks a live code used; the conditional update makes it single-use.
func (s *Store) UseOAuthCode(ctx context.Context, codeHash string, now time.Time) (*store.OAuthAuthRequest, error) {
	r, err := scanAuthRequest(s.w.QueryRowContext(ctx, `UPDATE oauth_auth_requests SET code_used_at = ?
		WHERE code_hash = ? AND code_used_at IS NULL AND expires_at > ? RETURNING `+authRequestColumns,
		micros(now), codeHash, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
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
	_, err := s.w.ExecContext(ctx, `DELETE FROM oauth_auth_requests WHERE id = ?`, id)
	return mapErr(err, "delete OAuth auth request")
}

const tokenColumns = `doc, rotated_at, revoked_at`

func scanToken(row rowScanner) (*store.OAuthToken, error) {
	var (
		doc              string
		rotated, revoked sql.NullInt64
	)
	if err := row.Scan(&doc, &rotated, &revoked); err != nil {
		return nil, err
	}
	var t store.OAuthToken
	if err := store.DecodeOAuthDoc(doc, &t); err != nil {
		return nil, err
	}
	t.RotatedAt, t.RevokedAt = timePtr(rotated), timePtr(revoked)
	return &t, nil
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

type execer interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

func insertToken(ctx context.Context, ex execer, t *store.OAuthToken, hash string) error {
	doc, err := store.EncodeOAuthDoc(t)
	if err != nil {
		return err
	}
	_, err = ex.ExecContext(ctx, `INSERT INTO oauth_tokens (id, kind, hash, grant_id, client_id, doc, created_at, expires_at,
		rotated_at, revoked_at) VALUES (?,?,?,?,?,?,?,?,?,?)`, t.ID, t.Kind, nullText(hash), t.GrantID, t.ClientID, doc,
		micros(t.CreatedAt), micros(t.ExpiresAt), nullMicros(t.RotatedAt), nullMicros(t.RevokedAt))
	return mapErr(err, "create OAuth token")
}

// CreateOAuthToken stores an issued token, with the audit events attached to ctx.
func (s *Store) CreateOAuthToken(ctx context.Context, t *store.OAuthToken, hash string) error {
	return s.write(ctx, "create OAuth token", func(tx *sql.Tx) error { return insertToken(ctx, tx, t, hash) })
}

// GetOAuthToken returns a token by id.
func (s *Store) GetOAuthToken(ctx context.Context, id string) (*store.OAuthToken, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM oauth_tokens WHERE id = ?`, id))
	return t, mapErr(err, "OAuth token")
}

// OAuthTokenByHash finds a refresh token by hash.
func (s *Store) OAuthTokenByHash(ctx context.Context, hash string) (*store.OAuthToken, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM oauth_tokens WHERE hash = ?`, hash))
	return t, mapErr(err, "OAuth token")
}

// RotateRefreshToken retires a live refresh token and stores its successor in one
// transaction.
func (s *Store) RotateRefreshToken(ctx context.Context, oldID string, next *store.OAuthToken, nextHash string, now time.Time) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err, "rotate refresh token")
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE oauth_tokens SET rotated_at = ? WHERE id = ? AND kind = 'refresh'
		AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?`, micros(now), oldID, micros(now))
	if err != nil {
		return mapErr(err, "rotate refresh token")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("refresh token %s is not live: %w", oldID, store.ErrConflict)
	}
	if err := insertToken(ctx, tx, next, nextHash); err != nil {
		return err
	}
	return mapErr(tx.Commit(), "rotate refresh token")
}

// RevokeOAuthToken marks a token revoked, keeping the first time.
func (s *Store) RevokeOAuthToken(ctx context.Context, id string, now time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE oauth_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, micros(now), id)
	if err != nil {
		return mapErr(err, "revoke OAuth token")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("OAuth token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// RevokeOAuthGrant revokes every token of one authorization.
func (s *Store) RevokeOAuthGrant(ctx context.Context, grantID string, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE oauth_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL`,
		micros(now), grantID)
	if err != nil {
		return 0, mapErr(err, "revoke OAuth grant")
	}
	n, err := res.RowsAffected()
	return n, mapErr(err, "revoke OAuth grant")
}

// GetOAuthConsent returns an owner's consent for a client.
func (s *Store) GetOAuthConsent(ctx context.Context, tenantID, ownerID, clientID string) (*store.OAuthConsent, error) {
	var doc string
	err := s.r.QueryRowContext(ctx, `SELECT doc FROM oauth_consents WHERE tenant_id = ? AND owner_id = ? AND client_id = ?`,
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
	_, err = s.w.ExecContext(ctx, `INSERT INTO oauth_consents (tenant_id, owner_id, client_id, doc, updated_at)
		VALUES (?,?,?,?,?) ON CONFLICT (tenant_id, owner_id, client_id) DO UPDATE SET doc = excluded.doc,
		updated_at = excluded.updated_at`, c.TenantID, c.OwnerID, c.ClientID, doc, micros(c.UpdatedAt))
	return mapErr(err, "store OAuth consent")
}

// CreateOAuthSigningKey stores a signing key.
func (s *Store) CreateOAuthSigningKey(ctx context.Context, k *store.OAuthSigningKey) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO oauth_signing_keys (id, algorithm, private_key, created_at, active_from)
		VALUES (?,?,?,?,?)`, k.ID, k.Algorithm, k.PrivateKey, micros(k.CreatedAt), micros(k.ActiveFrom))
	return mapErr(err, "create OAuth signing key")
}

// ListOAuthSigningKeys returns every signing key, oldest first.
func (s *Store) ListOAuthSigningKeys(ctx context.Context) ([]*store.OAuthSigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, algorithm, private_key, created_at, active_from FROM oauth_signing_keys
		ORDER BY active_from, id`)
	if err != nil {
		return nil, mapErr(err, "list OAuth signing keys")
	}
	defer rows.Close()
	var out []*store.OAuthSigningKey
	for rows.Next() {
		var (
			k               store.OAuthSigningKey
			created, active int64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &created, &active); err != nil {
			return nil, mapErr(err, "list OAuth signing keys")
		}
		k.CreatedAt, k.ActiveFrom = fromMicros(created), fromMicros(active)
		out = append(out, &k)
	}
	return out, mapErr(rows.Err(), "list OAuth signing keys")
}

// DeleteOAuthSigningKey removes a signing key.
func (s *Store) DeleteOAuthSigningKey(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM oauth_signing_keys WHERE id = ?`, id)
	return mapErr(err, "delete OAuth signing key")
}

// PruneOAuth deletes requests and tokens that expired before before.
func (s *Store) PruneOAuth(ctx context.Context, before time.Time) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, mapErr(err, "prune OAuth state")
	}
	defer tx.Rollback()
	var total int64
	for _, q := range []string{`DELETE FROM oauth_auth_requests WHERE expires_at < ?`, `DELETE FROM oauth_tokens WHERE expires_at < ?`} {
		res, err := tx.ExecContext(ctx, q, micros(before))
		if err != nil {
			return 0, mapErr(err, "prune OAuth state")
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, mapErr(tx.Commit(), "prune OAuth state")
}
