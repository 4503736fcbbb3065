package oidc

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// server is zitadel's LegacyServer with the authorization and token endpoints replaced
// where MCP needs more: exact redirect URIs, PKCE S256 for every client, resource
// indicators kept and bound into the audience, single-use codes and rotating refresh
// tokens whose replay revokes the whole grant.
type server struct {
	*op.LegacyServer
	p *Provider
}

// pkceChallenge is an S256 challenge: the base64url SHA-256 of the verifier, 43 characters.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// pkceVerifier is RFC 7636's code_verifier: 43 to 128 unreserved characters.
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// VerifyAuthRequest finds the client and checks the redirect URI against its registered
// ones: exactly, but for the port of a loopback one registered without. Errors here are
// shown to the user agent, never redirected: nothing about the redirect URI is trusted yet.
func (s *server) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	if r.Data.ClientID == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("client_id is missing")
	}
	c, err := s.p.client(ctx, r.Data.ClientID)
	if err != nil {
		return nil, clientLookupError(err)
	}
	if r.Data.RedirectURI == "" && len(c.meta.RedirectURIs) == 1 {
		r.Data.RedirectURI = c.meta.RedirectURIs[0]
	}
	if !c.redirectRegistered(r.Data.RedirectURI) {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("redirect_uri is not registered for this client")
	}
	if len(r.Data.Scopes) == 0 {
		r.Data.Scopes = slices.Clone(s.p.cfg.DefaultScopes)
	}
	return &op.ClientRequest[oidc.AuthRequest]{Request: r, Client: c}, nil
}

// clientLookupError turns a failed client lookup into an OAuth error that is never
// redirected.
func clientLookupError(err error) error {
	var oe *oidc.Error
	if errors.As(err, &oe) {
		if oe.ErrorType == oidc.ServerError {
			return oe
		}
		return oidc.ErrInvalidRequestRedirectURI().WithDescription("%s", oe.Description).WithParent(err)
	}
	return oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client_id").WithParent(err)
}

// Authorize runs once the redirect URI is trusted, so its errors reach the client with
// state and iss. It requires PKCE S256, checks the resource indicators, stores the request
// and sends the user agent to the login page.
func (s *server) Authorize(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	d := r.Data
	switch {
	case d.RequestParam != "":
		return nil, oidc.ErrRequestNotSupported()
	case d.ResponseType != oidc.ResponseTypeCode:
		return nil, oidc.ErrInvalidRequest().WithDescription("response_type must be code")
	case d.CodeChallenge == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge is required: use PKCE with S256")
	case d.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case !pkceChallenge.MatchString(d.CodeChallenge):
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge must be 43 base64url characters")
	case slices.Contains(d.Prompt, oidc.PromptNone) && !s.p.cfg.Login.DevAutoApprove:
		return nil, oidc.ErrLoginRequired().WithDescription("this server always needs the user to log in")
	}
	resources, err := s.p.resources(r.Form["resource"])
	if err != nil {
		return nil, err
	}
	now := s.p.now()
	ar := &store.OAuthAuthRequest{
		ID: agent.NewID("ar_"), TenantID: s.p.cfg.Tenant, ClientID: d.ClientID, RedirectURI: d.RedirectURI,
		State: d.State, Nonce: d.Nonce, Scopes: d.Scopes, ResponseType: string(d.ResponseType),
		ResponseMode: string(d.ResponseMode), CodeChallenge: d.CodeChallenge,
		CodeChallengeMethod: string(d.CodeChallengeMethod), Resources: resources, LoginHint: d.LoginHint,
		CreatedAt: now, ExpiresAt: now.Add(s.p.cfg.AuthRequestTTL),
	}
	if err := s.p.store.CreateOAuthAuthRequest(ctx, ar); err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	s.p.prune(ctx)
	return op.NewRedirect(s.p.endpoint("/login") + "?id=" + ar.ID), nil
}

// CodeExchange redeems a code once. A second use is a replay: it fails and revokes every
// token the code produced.
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	jkt, err := s.p.dpopKey(ctx, r.Method, r.Header)
	if err != nil {
		return nil, err
	}
	now := s.p.now()
	ar, err := s.p.store.UseOAuthCode(ctx, agent.HashToken(r.Data.Code), now)
	switch {
	case errors.Is(err, store.ErrConflict):
		s.revokeReplayedCode(ctx, r.Data.Code, now)
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code was already used")
	case errors.Is(err, store.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code is invalid or expired")
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	}
	switch {
	case ar.ClientID != r.Client.GetID():
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code was issued to another client")
	case ar.RedirectURI != r.Data.RedirectURI:
		return nil, oidc.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request")
	case r.Data.CodeVerifier == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("code_verifier is required")
	case !pkceVerifier.MatchString(r.Data.CodeVerifier) ||
		!oidc.VerifyCodeChallenge(&oidc.CodeChallenge{Challenge: ar.CodeChallenge, Method: oidc.CodeChallengeMethodS256}, r.Data.CodeVerifier):
		return nil, oidc.ErrInvalidGrant().WithDescription("code_verifier does not match the code_challenge")
	}
	audience, err := narrowResources(ar.Resources, r.Form["resource"])
	if err != nil {
		return nil, err
	}
	g := &grant{
		ID: ar.ID, TenantID: ar.TenantID, ClientID: ar.ClientID, Subject: ar.Subject, AgentID: ar.AgentID,
		Scopes: ar.Scopes, Resources: ar.Resources, Audience: audience, AuthTime: ar.AuthTime, AMR: ar.AMR,
		JKT: jkt,
	}
	if r.Client.AuthMethod() == oidc.AuthMethodNone {
		// A public client's refresh token is bound to the key too (RFC 9449 section 5).
		g.RefreshJKT = jkt
	}
	return s.issue(ctx, g, r.Client, "", &authRequest{ar}, r.Data.Code)
}

// revokeReplayedCode revokes the tokens issued for a code presented a second time.
func (s *server) revokeReplayedCode(ctx context.Context, code string, now time.Time) {
	ar, err := s.p.store.OAuthAuthRequestByCode(ctx, agent.HashToken(code))
	if err != nil {
		return
	}
	if n, err := s.p.store.RevokeOAuthGrant(ctx, ar.ID, now); err != nil {
		s.p.log.ErrorContext(ctx, "revoking the tokens of a replayed code failed", "grant", ar.ID, "error", err)
	} else {
		s.p.log.WarnContext(ctx, "authorization code replayed: its tokens are revoked", "grant", ar.ID, "client", ar.ClientID, "revoked", n)
	}
}

// RefreshToken rotates a refresh token: the new one replaces it and the old one is refused
// from then on. Presenting a rotated token again revokes the whole grant.
func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	jkt, err := s.p.dpopKey(ctx, r.Method, r.Header)
	if err != nil {
		return nil, err
	}
	now := s.p.now()
	old, err := s.p.store.OAuthTokenByHash(ctx, agent.HashToken(r.Data.RefreshToken))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token is invalid")
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	case old.Kind != store.OAuthRefreshToken || old.ClientID != r.Client.GetID():
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token is invalid")
	case old.RotatedAt != nil:
		if _, err := s.p.store.RevokeOAuthGrant(ctx, old.GrantID, now); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		s.p.log.WarnContext(ctx, "rotated refresh token replayed: its grant is revoked", "grant", old.GrantID, "client", old.ClientID)
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was already used")
	case !old.Live(now):
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token is expired or revoked")
	}
	if err := checkRefreshBinding(r.Data.RefreshToken, jkt); err != nil {
		return nil, err
	}
	scopes := old.Scopes
	if len(r.Data.Scopes) > 0 {
		for _, sc := range r.Data.Scopes {
			if !slices.Contains(old.Scopes, sc) {
				return nil, oidc.ErrInvalidScope().WithDescription("scope %q was not granted", sc)
			}
		}
		scopes = r.Data.Scopes
	}
	audience, err := narrowResources(old.Audience, r.Form["resource"])
	if err != nil {
		return nil, err
	}
	if err := s.p.agentUsable(ctx, old.AgentID); err != nil {
		return nil, err
	}
	g := &grant{
		ID: old.GrantID, TenantID: old.TenantID, ClientID: old.ClientID, Subject: old.Subject, AgentID: old.AgentID,
		Scopes: scopes, Resources: old.Audience, Audience: audience, AuthTime: old.AuthTime, AMR: old.AMR,
		JKT: jkt, RefreshJKT: refreshBinding(r.Data.RefreshToken),
	}
	if g.RefreshJKT == "" && r.Client.AuthMethod() == oidc.AuthMethodNone {
		g.RefreshJKT = jkt // a public client that starts proving a key binds its refresh token to it
	}
	return s.issue(ctx, g, r.Client, old.ID, &idTokenRequest{g}, "")
}

// narrowResources returns the audience of an access token: the resources the token request
// names, each of which must have been authorized, or all of them.
func narrowResources(authorized, requested []string) ([]string, error) {
	if len(requested) == 0 {
		return authorized, nil
	}
	var out []string
	for _, raw := range requested {
		res, err := canonicalResource(raw)
		if err != nil || !slices.Contains(authorized, res) {
			return nil, oidc.ErrInvalidTarget().WithDescription("resource %q was not authorized for this grant", raw)
		}
		out = append(out, res)
	}
	return out, nil
}

// Discovery answers the OpenID configuration under the issuer path from the same document
// as the well-known routes.
func (s *server) Discovery(ctx context.Context, r *op.Request[struct{}]) (*op.Response, error) {
	return s.p.metadataResponse(ctx)
}

// issue mints the token response: a JWT access token bound to the grant's audience, a
// refresh token when the client may refresh (rotating rotateFrom, if set), and an ID token
// when openid was granted.
func (s *server) issue(ctx context.Context, g *grant, c op.Client, rotateFrom string, idReq op.IDTokenRequest, code string) (*op.Response, error) {
	now := s.p.now()
	exp := now.Add(s.p.cfg.AccessTokenTTL)
	access := g.token(agent.NewID("at_"), store.OAuthAccessToken, now, exp)
	if err := s.p.store.CreateOAuthToken(ctx, access, ""); err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	ctx = op.ContextWithIssuer(ctx, s.p.issuer)
	jwt, err := op.CreateJWT(ctx, s.p.issuer, &accessRequest{g}, exp, access.ID, c, s.p.storage)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	resp := &oidc.AccessTokenResponse{
		AccessToken: jwt, TokenType: g.tokenType(), ExpiresIn: uint64(s.p.cfg.AccessTokenTTL.Seconds()), Scope: g.Scopes,
	}
	if slices.Contains(c.GrantTypes(), oidc.GrantTypeRefreshToken) {
		secret := randomSecret(refreshPrefix)
		if g.RefreshJKT != "" {
			secret += refreshBindingSep + g.RefreshJKT
		}
		next := g.token(agent.NewID("rt_"), store.OAuthRefreshToken, now, now.Add(s.p.cfg.RefreshTokenTTL))
		next.Audience = g.Resources
		if rotateFrom != "" {
			err = s.p.store.RotateRefreshToken(ctx, rotateFrom, next, agent.HashToken(secret), now)
		} else {
			err = s.p.store.CreateOAuthToken(ctx, next, agent.HashToken(secret))
		}
		if errors.Is(err, store.ErrConflict) {
			return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was already used")
		}
		if err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		resp.RefreshToken = secret
	}
	if slices.Contains(g.Scopes, oidc.ScopeOpenID) {
		if resp.IDToken, err = op.CreateIDToken(ctx, s.p.issuer, idReq, c.IDTokenLifetime(), jwt, code, s.p.storage, c); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
	}
	out := op.NewResponse(resp)
	out.Header.Set("Cache-Control", "no-store")
	out.Header.Set("Pragma", "no-cache")
	return out, nil
}

// refreshPrefix starts every refresh token, so that introspection and revocation can tell
// one from a JWT access token.
const refreshPrefix = "kvr_"

// isRefreshToken reports whether a presented token has the refresh token shape.
func isRefreshToken(t string) bool { return strings.HasPrefix(t, refreshPrefix) }
