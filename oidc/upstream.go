package oidc

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// UpstreamConfig names an upstream OpenID provider that logs users in. Kavach is its
// client, registered with the redirect URI {issuer}/login/callback (under the endpoint
// prefix).
type UpstreamConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes default to openid; UserClaim picks the claim that names the user (default
	// sub; also email, preferred_username or any other string claim of the ID token).
	Scopes    []string
	UserClaim string
}

type upstream struct {
	rp    rp.RelyingParty
	claim string
}

func newUpstream(ctx context.Context, cfg UpstreamConfig, callback string) (*upstream, error) {
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID}
	}
	party, err := rp.NewRelyingPartyOIDC(ctx, cfg.Issuer, cfg.ClientID, cfg.ClientSecret, callback, scopes)
	if err != nil {
		return nil, fmt.Errorf("oauth: upstream provider %s: %w", cfg.Issuer, err)
	}
	claim := cfg.UserClaim
	if claim == "" {
		claim = "sub"
	}
	return &upstream{rp: party, claim: claim}, nil
}

// upstreamLogin sends the user to the upstream provider. The state names the request and
// carries a secret whose hash, with the PKCE verifier, stays on the stored request.
func (p *Provider) upstreamLogin(w http.ResponseWriter, r *http.Request, ar *store.OAuthAuthRequest) {
	secret, verifier := randomSecret(""), randomSecret("")
	if _, err := p.store.UpdateOAuthAuthRequest(r.Context(), ar.ID, func(x *store.OAuthAuthRequest) error {
		x.UpstreamState = agent.HashToken(secret) + " " + verifier
		return nil
	}); err != nil {
		p.renderError(w, http.StatusInternalServerError, "Something went wrong on our side.")
		return
	}
	target := rp.AuthURL(ar.ID+"."+secret, p.upstream.rp, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(verifier)))
	http.Redirect(w, r, target, http.StatusFound)
}

// upstreamCallback finishes the upstream login and continues with consent.
func (p *Provider) upstreamCallback(w http.ResponseWriter, r *http.Request) {
	if p.upstream == nil {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	id, secret, _ := strings.Cut(q.Get("state"), ".")
	ar, c, ok := p.pending(w, r, id)
	if !ok {
		return
	}
	hash, verifier, _ := strings.Cut(ar.UpstreamState, " ")
	if secret == "" || hash == "" || !agent.VerifyToken(secret, hash) {
		p.renderError(w, http.StatusForbidden, "The login answer does not belong to this authorization request.")
		return
	}
	if e := q.Get("error"); e != "" {
		p.redirectError(w, r, ar, oidc.ErrAccessDenied().WithDescription("the upstream login failed"))
		return
	}
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](r.Context(), q.Get("code"), p.upstream.rp, rp.WithCodeVerifier(verifier))
	if err != nil {
		p.log.WarnContext(r.Context(), "upstream code exchange failed", "error", err)
		p.redirectError(w, r, ar, oidc.ErrAccessDenied().WithDescription("the upstream login failed"))
		return
	}
	user := p.upstream.user(tokens.IDTokenClaims)
	if agent.ValidateIdentifier("user", user) != nil {
		p.redirectError(w, r, ar, oidc.ErrAccessDenied().WithDescription("the upstream login named no usable user"))
		return
	}
	if ar, ok = p.setSubject(w, r, ar, user, "upstream"); !ok {
		return
	}
	if p.consented(r.Context(), ar) {
		p.complete(w, r, ar, c)
		return
	}
	p.renderConsent(w, r, ar, c)
}

// user reads the configured claim from the upstream ID token.
func (u *upstream) user(c *oidc.IDTokenClaims) string {
	switch u.claim {
	case "sub":
		return c.Subject
	case "email":
		return c.Email
	case "preferred_username":
		return c.PreferredUsername
	}
	if v, ok := c.Claims[u.claim].(string); ok {
		return v
	}
	return ""
}
