package oidc

import (
	"context"
	"errors"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/kavachos/kavach-go/agent"
)

// UserLogin logs a person in at the upstream provider for a page of Kavach's own, such as
// the web console, with the same client settings and user claim as the authorization
// server's login. The caller keeps state and verifier until the callback.
type UserLogin struct{ u *upstream }

// NewUserLogin discovers the upstream provider; callback is the caller's redirect URI,
// registered at the provider.
func NewUserLogin(ctx context.Context, cfg UpstreamConfig, callback string) (*UserLogin, error) {
	u, err := newUpstream(ctx, cfg, callback)
	if err != nil {
		return nil, err
	}
	return &UserLogin{u: u}, nil
}

// AuthURL is where to send the browser; verifier is the PKCE verifier kept for Exchange.
func (l *UserLogin) AuthURL(state, verifier string) string {
	return rp.AuthURL(state, l.u.rp, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(verifier)))
}

// Exchange redeems the callback's code and returns the user it names.
func (l *UserLogin) Exchange(ctx context.Context, code, verifier string) (string, error) {
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, code, l.u.rp, rp.WithCodeVerifier(verifier))
	if err != nil {
		return "", err
	}
	user := l.u.user(tokens.IDTokenClaims)
	if agent.ValidateIdentifier("user", user) != nil {
		return "", errors.New("the upstream login named no usable user")
	}
	return user, nil
}

// NewSecret returns a random URL-safe secret, for states and PKCE verifiers.
func NewSecret() string { return randomSecret("") }
