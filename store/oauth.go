package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// OAuthStore persists the state of the OAuth 2.1 authorization server (oidc/): registered
// clients, authorization requests and their codes, issued tokens, consents and signing
// keys. Secrets never reach it: client secrets, codes and refresh tokens are stored as
// SHA-256 hashes.
type OAuthStore interface {
	// CreateOAuthClient stores a dynamically registered client. A duplicate id is
	// ErrConflict.
	CreateOAuthClient(ctx context.Context, c *OAuthClient) error
	GetOAuthClient(ctx context.Context, id string) (*OAuthClient, error)

	CreateOAuthAuthRequest(ctx context.Context, r *OAuthAuthRequest) error
	GetOAuthAuthRequest(ctx context.Context, id string) (*OAuthAuthRequest, error)
	// UpdateOAuthAuthRequest reads the request, applies fn and writes the result
	// atomically. If fn fails, nothing is written. A code hash already held by another
	// request is ErrConflict.
	UpdateOAuthAuthRequest(ctx context.Context, id string, fn func(*OAuthAuthRequest) error) (*OAuthAuthRequest, error)
	// OAuthAuthRequestByCode finds the request holding a code, used or not.
	OAuthAuthRequestByCode(ctx context.Context, codeHash string) (*OAuthAuthRequest, error)
	// UseOAuthCode marks a code used at now and returns its request, atomically: of
	// concurrent callers exactly one succeeds. A code already used is ErrConflict; an
	// unknown or expired one is ErrNotFound.
	UseOAuthCode(ctx context.Context, codeHash string, now time.Time) (*OAuthAuthRequest, error)
	DeleteOAuthAuthRequest(ctx context.Context, id string) error

	// CreateOAuthToken stores an issued token; hash is the SHA-256 of a refresh token's
	// secret and empty for an access token (a signed JWT, known by its id).
	CreateOAuthToken(ctx context.Context, t *OAuthToken, hash string) error
	GetOAuthToken(ctx context.Context, id string) (*OAuthToken, error)
	// OAuthTokenByHash finds a refresh token by the hash of its secret, whatever its state.
	OAuthTokenByHash(ctx context.Context, hash string) (*OAuthToken, error)
	// RotateRefreshToken retires the refresh token oldID and stores next in its place,
	// atomically. The old token must be live at now (not rotated, revoked or expired),
	// otherwise nothing is written and the error is ErrConflict: of concurrent rotations
	// of one token exactly one succeeds.
	RotateRefreshToken(ctx context.Context, oldID string, next *OAuthToken, nextHash string, now time.Time) error
	// RevokeOAuthToken marks one token revoked at now, keeping the first revocation time.
	RevokeOAuthToken(ctx context.Context, id string, now time.Time) error
	// RevokeOAuthGrant revokes every token descending from one authorization and returns
	// how many were still unrevoked.
	RevokeOAuthGrant(ctx context.Context, grantID string, now time.Time) (int64, error)

	// GetOAuthConsent returns what an owner has consented to for a client.
	GetOAuthConsent(ctx context.Context, tenantID, ownerID, clientID string) (*OAuthConsent, error)
	// PutOAuthConsent stores a consent, replacing the previous one of the same owner and
	// client.
	PutOAuthConsent(ctx context.Context, c *OAuthConsent) error

	CreateOAuthSigningKey(ctx context.Context, k *OAuthSigningKey) error
	// ListOAuthSigningKeys returns every key, oldest ActiveFrom first.
	ListOAuthSigningKeys(ctx context.Context) ([]*OAuthSigningKey, error)
	DeleteOAuthSigningKey(ctx context.Context, id string) error

	// PruneOAuth deletes authorization requests and tokens that expired before before,
	// and returns how many rows went.
	PruneOAuth(ctx context.Context, before time.Time) (int64, error)
}

// OAuthClient is a client registered through RFC 7591 dynamic registration. Metadata is
// the registered client metadata as a JSON object, without any secret.
type OAuthClient struct {
	ID         string    `json:"id"`
	SecretHash string    `json:"-"` // empty for a public client
	Metadata   string    `json:"metadata"`
	CreatedAt  time.Time `json:"createdAt"`
}

// OAuthAuthRequest is one authorization request, from the authorize endpoint through
// login and consent to its code.
type OAuthAuthRequest struct {
	ID                  string     `json:"id"`
	TenantID            string     `json:"tenantId"`
	ClientID            string     `json:"clientId"`
	RedirectURI         string     `json:"redirectUri"`
	State               string     `json:"state,omitempty"`
	Nonce               string     `json:"nonce,omitempty"`
	Scopes              []string   `json:"scopes,omitempty"`
	ResponseType        string     `json:"responseType"`
	ResponseMode        string     `json:"responseMode,omitempty"`
	CodeChallenge       string     `json:"codeChallenge"`
	CodeChallengeMethod string     `json:"codeChallengeMethod"`
	Resources           []string   `json:"resources,omitempty"`
	LoginHint           string     `json:"loginHint,omitempty"`
	Subject             string     `json:"subject,omitempty"` // the owner, once logged in
	AgentID             string     `json:"agentId,omitempty"` // once consented
	AuthTime            time.Time  `json:"authTime"`
	AMR                 []string   `json:"amr,omitempty"`
	Done                bool       `json:"done"`     // login and consent complete
	CSRFHash            string     `json:"csrfHash"` // binds the consent form to this request
	UpstreamState       string     `json:"upstreamState,omitempty"`
	CreatedAt           time.Time  `json:"createdAt"`
	ExpiresAt           time.Time  `json:"expiresAt"`
	CodeHash            string     `json:"codeHash,omitempty"`
	CodeUsedAt          *time.Time `json:"codeUsedAt,omitempty"`
}

// Kinds of OAuthToken.
const (
	OAuthAccessToken  = "access"
	OAuthRefreshToken = "refresh"
)

// OAuthToken is an issued access or refresh token. GrantID names the authorization it
// descends from, so that a replayed code or refresh token can revoke the whole family.
type OAuthToken struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	GrantID   string     `json:"grantId"`
	ClientID  string     `json:"clientId"`
	TenantID  string     `json:"tenantId"`
	Subject   string     `json:"subject"`
	AgentID   string     `json:"agentId,omitempty"`
	Scopes    []string   `json:"scopes,omitempty"`
	Audience  []string   `json:"audience,omitempty"`
	AuthTime  time.Time  `json:"authTime"`
	AMR       []string   `json:"amr,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt time.Time  `json:"expiresAt"`
	RotatedAt *time.Time `json:"rotatedAt,omitempty"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// Live reports whether the token may still be used at now.
func (t *OAuthToken) Live(now time.Time) bool {
	return t.RotatedAt == nil && t.RevokedAt == nil && now.Before(t.ExpiresAt)
}

// OAuthConsent is what an owner consented to for a client: the scopes and resources, and
// the delegated agent that acts for the pair.
type OAuthConsent struct {
	TenantID  string    `json:"tenantId"`
	OwnerID   string    `json:"ownerId"`
	ClientID  string    `json:"clientId"`
	AgentID   string    `json:"agentId"`
	Scopes    []string  `json:"scopes,omitempty"`
	Resources []string  `json:"resources,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// OAuthSigningKey is an asymmetric key that signs tokens from ActiveFrom on. PrivateKey is
// PKCS #8 in PEM form.
type OAuthSigningKey struct {
	ID         string
	Algorithm  string
	PrivateKey string
	CreatedAt  time.Time
	ActiveFrom time.Time
}

// EncodeOAuthDoc marshals an OAuth object into the JSON document column both backends
// keep beside its indexed columns.
func EncodeOAuthDoc(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode oauth document: %w", err)
	}
	return string(b), nil
}

// DecodeOAuthDoc unmarshals a document written by EncodeOAuthDoc.
func DecodeOAuthDoc(doc string, v any) error {
	if err := json.Unmarshal([]byte(doc), v); err != nil {
		return fmt.Errorf("decode oauth document: %w", err)
	}
	return nil
}
