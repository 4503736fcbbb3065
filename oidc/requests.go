package oidc

import (
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/kavachos/kavach-go/store"
)

// grant is what a token is issued for: one authorization's owner, client, agent, scopes and
// resources. Audience is the access token's: the resources asked for at the token endpoint.
type grant struct {
	ID, TenantID, ClientID, Subject, AgentID string
	Scopes, Resources, Audience              []string
	AuthTime                                 time.Time
	AMR                                      []string
	// JKT binds the access token to a DPoP key (its cnf.jkt); RefreshJKT binds the refresh
	// token.
	JKT, RefreshJKT string
}

// token records a token of the grant.
func (g *grant) token(id, kind string, now, exp time.Time) *store.OAuthToken {
	return &store.OAuthToken{
		ID: id, Kind: kind, GrantID: g.ID, ClientID: g.ClientID, TenantID: g.TenantID, Subject: g.Subject,
		AgentID: g.AgentID, Scopes: g.Scopes, Audience: g.Audience, AuthTime: g.AuthTime, AMR: g.AMR,
		CreatedAt: now, ExpiresAt: exp,
	}
}

// privateClaims are the claims an access token carries besides the registered ones: the
// agent that acts, its tenant and the granted scope.
func (g *grant) privateClaims() map[string]any {
	claims := map[string]any{
		ClaimAgentID: g.AgentID, ClaimTenantID: g.TenantID, "scope": strings.Join(g.Scopes, " "),
	}
	if g.JKT != "" {
		claims["cnf"] = map[string]any{"jkt": g.JKT}
	}
	return claims
}

// tokenType is the token_type of the grant's access token.
func (g *grant) tokenType() string {
	if g.JKT != "" {
		return dpopTokenType
	}
	return oidc.BearerToken
}

// Private claims of Kavach access tokens.
const (
	ClaimAgentID  = "agent_id"
	ClaimTenantID = "tenant_id"
)

// accessRequest is a grant as op's JWT builder sees it: the audience is the resources.
type accessRequest struct{ g *grant }

func (r *accessRequest) GetSubject() string    { return r.g.Subject }
func (r *accessRequest) GetAudience() []string { return r.g.Audience }
func (r *accessRequest) GetScopes() []string   { return r.g.Scopes }

// idTokenRequest is a grant as op's ID token builder sees it: the audience is the client.
type idTokenRequest struct{ g *grant }

func (r *idTokenRequest) GetAMR() []string       { return r.g.AMR }
func (r *idTokenRequest) GetAudience() []string  { return []string{r.g.ClientID} }
func (r *idTokenRequest) GetAuthTime() time.Time { return r.g.AuthTime }
func (r *idTokenRequest) GetClientID() string    { return r.g.ClientID }
func (r *idTokenRequest) GetScopes() []string    { return r.g.Scopes }
func (r *idTokenRequest) GetSubject() string     { return r.g.Subject }

// refreshRequest is a stored refresh token as op's refresh flow sees it.
type refreshRequest struct {
	t      *store.OAuthToken
	scopes []string
}

func (r *refreshRequest) GetAMR() []string            { return r.t.AMR }
func (r *refreshRequest) GetAudience() []string       { return r.t.Audience }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.t.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.t.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.t.Subject }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// authRequest is a stored authorization request as op sees it. Its audience is the client,
// as an ID token's must be; access tokens take theirs from the grant.
type authRequest struct{ r *store.OAuthAuthRequest }

func (a *authRequest) GetID() string                      { return a.r.ID }
func (a *authRequest) GetACR() string                     { return "" }
func (a *authRequest) GetAMR() []string                   { return a.r.AMR }
func (a *authRequest) GetAudience() []string              { return []string{a.r.ClientID} }
func (a *authRequest) GetAuthTime() time.Time             { return a.r.AuthTime }
func (a *authRequest) GetClientID() string                { return a.r.ClientID }
func (a *authRequest) GetNonce() string                   { return a.r.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.r.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseType(a.r.ResponseType) }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.r.ResponseMode) }
func (a *authRequest) GetScopes() []string                { return a.r.Scopes }
func (a *authRequest) GetState() string                   { return a.r.State }
func (a *authRequest) GetSubject() string                 { return a.r.Subject }
func (a *authRequest) Done() bool                         { return a.r.Done }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	return &oidc.CodeChallenge{Challenge: a.r.CodeChallenge, Method: oidc.CodeChallengeMethod(a.r.CodeChallengeMethod)}
}
