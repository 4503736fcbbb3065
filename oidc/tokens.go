package oidc

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// Introspect answers RFC 7662 for a confidential client that authenticates with its secret.
// A token that is unknown, expired, rotated or revoked is {"active": false}, and so are a
// token whose agent can no longer act or whose delegation chain was revoked, and a refresh
// token asked about by a client other than its own.
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	cc := r.Data.ClientCredentials
	if cc.ClientAssertion != "" || s.p.storage.AuthorizeClientIDSecret(ctx, cc.ClientID, cc.ClientSecret) != nil {
		return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("client authentication failed"), http.StatusUnauthorized)
	}
	resp := new(oidc.IntrospectionResponse)
	t, jkt, err := s.p.tokenRecord(ctx, r.Data.Token)
	switch {
	case err == nil && t.Live(s.p.now()) && (t.Kind == store.OAuthAccessToken || t.ClientID == cc.ClientID) && s.p.inForce(ctx, t):
		s.p.describe(resp, t, jkt)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, oidc.ErrServerError().WithParent(err)
	}
	out := op.NewResponse(resp)
	out.Header.Set("Cache-Control", "no-store")
	return out, nil
}

// Revocation revokes a refresh token with its whole grant, or one access token (RFC 7009).
// Unknown and invalid tokens are answered with 200, as the RFC asks; a token of another
// client is refused.
func (s *server) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	t, _, err := s.p.tokenRecord(ctx, r.Data.Token)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return op.NewResponse(nil), nil
	case err != nil:
		return nil, op.RevocationError(oidc.ErrServerError().WithParent(err))
	}
	if oe := s.p.revoke(ctx, t, r.Client.GetID()); oe != nil {
		return nil, op.RevocationError(oe)
	}
	return op.NewResponse(nil), nil
}

// tokenRecord finds the stored record of a presented token: a refresh token by its hash, a
// JWT access token by its id once its signature, issuer and expiry check out. Anything else
// is ErrNotFound. It also returns the thumbprint of the DPoP key the token is bound to, if
// any.
func (p *Provider) tokenRecord(ctx context.Context, token string) (*store.OAuthToken, string, error) {
	notFound := store.ErrNotFound
	if isRefreshToken(token) {
		t, err := p.store.OAuthTokenByHash(ctx, agent.HashToken(token))
		if err == nil && t.Kind != store.OAuthRefreshToken {
			return nil, "", notFound
		}
		return t, refreshBinding(token), err
	}
	claims, err := p.accessClaims(ctx, token)
	if err != nil {
		return nil, "", notFound
	}
	t, err := p.store.GetOAuthToken(ctx, claims.JWTID)
	if err == nil && t.Kind != store.OAuthAccessToken {
		return nil, "", notFound
	}
	return t, boundKey(claims), err
}

// accessClaims verifies a JWT access token of this server: signature, issuer and expiry.
func (p *Provider) accessClaims(ctx context.Context, token string) (*oidc.AccessTokenClaims, error) {
	if strings.Count(token, ".") != 2 {
		return nil, store.ErrNotFound
	}
	ctx = op.ContextWithIssuer(ctx, p.issuer)
	claims, err := op.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, token, p.server.Provider().AccessTokenVerifier(ctx))
	if err != nil || claims.JWTID == "" {
		return nil, store.ErrNotFound
	}
	return claims, nil
}

// boundKey is the cnf.jkt of verified access token claims, or "".
func boundKey(c *oidc.AccessTokenClaims) string {
	cnf, _ := c.Claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// revoke revokes a token issued to clientID: a refresh token takes its grant's access
// tokens with it.
func (p *Provider) revoke(ctx context.Context, t *store.OAuthToken, clientID string) *oidc.Error {
	if t.ClientID != clientID {
		return oidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client")
	}
	var err error
	if t.Kind == store.OAuthRefreshToken {
		_, err = p.store.RevokeOAuthGrant(ctx, t.GrantID, p.now())
	} else {
		err = p.store.RevokeOAuthToken(ctx, t.ID, p.now())
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

// describe fills an active introspection response from a token record; jkt names the DPoP
// key the token is bound to (RFC 9449 section 6.2), if any.
func (p *Provider) describe(resp *oidc.IntrospectionResponse, t *store.OAuthToken, jkt string) {
	resp.Active = true
	resp.Scope = t.Scopes
	resp.ClientID = t.ClientID
	resp.TokenType = "Bearer"
	if t.Kind == store.OAuthRefreshToken {
		resp.TokenType = "refresh_token"
	}
	resp.Expiration = oidc.FromTime(t.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(t.CreatedAt)
	resp.AuthTime = oidc.FromTime(t.AuthTime)
	resp.Subject = t.Subject
	resp.Audience = t.Audience
	resp.Issuer = p.issuer
	resp.JWTID = t.ID
	resp.Claims = map[string]any{ClaimAgentID: t.AgentID, ClaimTenantID: t.TenantID}
	if jkt != "" {
		resp.Claims["cnf"] = map[string]any{"jkt": jkt}
		if t.Kind == store.OAuthAccessToken {
			resp.TokenType = dpopTokenType
		}
	}
}

// UserInfo refuses access tokens bound to a DPoP key: userinfo does not check DPoP proofs,
// and a bound token must never be usable without one.
func (s *server) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	if claims, err := s.p.accessClaims(ctx, r.Data.AccessToken); err == nil && boundKey(claims) != "" {
		return nil, op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("userinfo does not accept DPoP-bound access tokens"), http.StatusUnauthorized)
	}
	return s.LegacyServer.UserInfo(ctx, r)
}
