package oidc

import (
	"context"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// storage is op.Storage over store.OAuthStore. The grant flows themselves live in server,
// which creates and redeems codes and tokens directly; what op still calls here is client
// lookup and authentication, signing keys, the token's private claims and userinfo.
type storage struct{ p *Provider }

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*storage)(nil)
)

var errUnsupported = oidc.ErrUnsupportedGrantType().WithDescription("not supported by this server")

func (s *storage) CreateAuthRequest(context.Context, *oidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, errUnsupported
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.p.store.GetOAuthAuthRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	return &authRequest{r}, nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.p.store.OAuthAuthRequestByCode(ctx, agent.HashToken(code))
	if err != nil {
		return nil, err
	}
	return &authRequest{r}, nil
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	_, err := s.p.store.UpdateOAuthAuthRequest(ctx, id, func(r *store.OAuthAuthRequest) error {
		r.CodeHash, r.ExpiresAt = agent.HashToken(code), s.p.now().Add(s.p.cfg.CodeTTL)
		return nil
	})
	return err
}

func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.p.store.DeleteOAuthAuthRequest(ctx, id)
}

func (s *storage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return "", time.Time{}, errUnsupported
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errUnsupported
}

func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	t, err := s.p.store.OAuthTokenByHash(ctx, agent.HashToken(token))
	if err != nil {
		return nil, err
	}
	if t.Kind != store.OAuthRefreshToken || !t.Live(s.p.now()) {
		return nil, op.ErrInvalidRefreshToken
	}
	return &refreshRequest{t: t, scopes: t.Scopes}, nil
}

func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// RevokeToken revokes a refresh token (and its grant) or an access token by id, if it was
// issued to clientID. Unknown tokens are not an error (RFC 7009).
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	t, _, err := s.p.tokenRecord(ctx, tokenOrID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return s.p.revoke(ctx, t, clientID)
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	if !isRefreshToken(token) {
		return "", "", op.ErrInvalidRefreshToken
	}
	t, err := s.p.store.OAuthTokenByHash(ctx, agent.HashToken(token))
	if err != nil || t.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.Subject, t.ID, nil
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return s.p.keys.signer(ctx)
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{signingAlgorithm}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	return s.p.keys.published(ctx)
}

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.p.client(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.p.client(ctx, id)
	if err != nil {
		return err
	}
	if c.secretHash == "" || !agent.VerifyToken(secret, c.secretHash) {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return nil
}

// SetUserinfoFromScopes names the user in ID tokens; Kavach knows nothing else about users.
func (s *storage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, userID, _ string, _ []string) error {
	info.Subject = userID
	return nil
}

// SetUserinfoFromToken answers userinfo for a live access token: the subject only.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, err := s.p.store.GetOAuthToken(ctx, tokenID)
	if err != nil || t.Kind != store.OAuthAccessToken || !t.Live(s.p.now()) || t.Subject != subject {
		return oidc.ErrAccessDenied().WithDescription("the access token is not active")
	}
	info.Subject = subject
	return nil
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, _, _ string) error {
	t, err := s.p.store.GetOAuthToken(ctx, tokenID)
	if err != nil || !t.Live(s.p.now()) {
		return errInactive
	}
	s.p.describe(resp, t, "")
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetPrivateClaimsFromRequest puts the agent, tenant and scope into access tokens.
func (s *storage) GetPrivateClaimsFromRequest(_ context.Context, r op.TokenRequest, _ []string) (map[string]any, error) {
	if ar, ok := r.(*accessRequest); ok {
		return ar.g.privateClaims(), nil
	}
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, fmt.Errorf("private_key_jwt is not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errUnsupported
}

// Health reports whether the store answers.
func (s *storage) Health(ctx context.Context) error {
	_, err := s.p.store.ListOAuthSigningKeys(ctx)
	return err
}

var errInactive = errors.New("token is not active")
