package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// Enterprise-managed authorization (the MCP extension of that name): an enterprise identity
// provider issues an Identity Assertion JWT Authorization Grant (ID-JAG,
// draft-ietf-oauth-identity-assertion-authz-grant) naming a user, a client and an MCP
// server, and the client redeems it at the token endpoint with the JWT bearer grant
// (RFC 7523) for an access token. No browser and no consent page are involved: the
// provider's policy stands in for the user's consent.

// TrustedIdP is an enterprise identity provider whose ID-JAGs the token endpoint redeems.
type TrustedIdP struct {
	// Issuer is its issuer identifier, exactly as the iss of its ID-JAGs.
	Issuer string
	// JWKSURL is where its signing keys are published: https, or http on a loopback host.
	JWKSURL string
}

const (
	// idjagType is the typ header of every ID-JAG (RFC 8725 explicit typing).
	idjagType = "oauth-id-jag+jwt"
	// grantProfileIDJAG is advertised in authorization_grant_profiles_supported.
	grantProfileIDJAG = "urn:ietf:params:oauth:grant-profile:id-jag"
	// assertionLeeway tolerates clock skew between a provider and this server.
	assertionLeeway = 30 * time.Second
	// maxAssertionLifetime bounds how far ahead an assertion may expire: ID-JAGs live for
	// minutes, and each redeemed one is remembered until it expires.
	maxAssertionLifetime = time.Hour
	maxJTILen            = 255
)

// assertion is an ID-JAG's payload.
type assertion struct {
	jwt.Claims
	ClientID string                   `json:"client_id"`
	Resource oidc.Audience            `json:"resource"`
	Scope    oidc.SpaceDelimitedArray `json:"scope"`
	AuthTime *jwt.NumericDate         `json:"auth_time"`
	claims   map[string]any           // every claim, for the one that names the user
}

// idjagTokenResponse is the token response of a redeemed ID-JAG, which names the granted
// resources as the draft asks.
type idjagTokenResponse struct {
	*oidc.AccessTokenResponse
	Resource []string `json:"resource"`
}

// JWTProfile redeems an ID-JAG presented with the JWT bearer grant. op parses the grant but
// neither authenticates the client nor suits an ID-JAG with its own assertion checks (they
// expect a self-signed client assertion whose subject is its issuer), so both are done
// here. Without trusted identity providers the grant is not offered.
func (s *server) JWTProfile(ctx context.Context, r *op.Request[oidc.JWTProfileGrantRequest]) (*op.Response, error) {
	p := s.p
	if len(p.idps) == 0 {
		return nil, op.NewStatusError(oidc.ErrUnsupportedGrantType().WithDescription("jwt-bearer is not supported"), http.StatusBadRequest)
	}
	c, err := s.assertionClient(ctx, r)
	if err != nil {
		return nil, err
	}
	jkt, err := p.dpopKey(ctx, r.Method, r.Header)
	if err != nil {
		return nil, err
	}
	a, err := p.verifyIDJAG(ctx, r.Data.Assertion)
	if err != nil {
		return nil, err
	}
	if a.ClientID != c.id {
		return nil, oidc.ErrInvalidGrant().WithDescription("the assertion was issued to another client")
	}
	if err := assertionBinding(a.claims["cnf"], jkt); err != nil {
		return nil, err
	}
	ar, audience, err := p.assertionGrant(a, c, r.Data.Scope, r.Form["resource"])
	if err != nil {
		return nil, err
	}
	// The request record makes the assertion single-use across every instance: its id is
	// derived from issuer and jti, so a second redemption collides on the primary key.
	if err := p.store.CreateOAuthAuthRequest(ctx, ar); errors.Is(err, store.ErrConflict) {
		p.log.WarnContext(ctx, "identity assertion replayed", "issuer", a.Issuer, "jti", a.ID, "client", c.id)
		return nil, oidc.ErrInvalidGrant().WithDescription("the assertion was already used")
	} else if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	p.prune(ctx)
	agentID, err := p.grantConsent(ctx, ar, c)
	if err != nil {
		p.log.ErrorContext(ctx, "recording an identity assertion's grant failed", "client", c.id, "user", ar.Subject, "error", err)
		return nil, oidc.ErrServerError().WithDescription("the grant could not be recorded").WithParent(err)
	}
	p.log.InfoContext(ctx, "authorization granted by an identity assertion", "issuer", a.Issuer, "client", c.id,
		"user", ar.Subject, "agent", agentID, "scopes", ar.Scopes, "resources", ar.Resources)
	g := &grant{
		ID: ar.ID, TenantID: ar.TenantID, ClientID: c.id, Subject: ar.Subject, AgentID: agentID,
		Scopes: ar.Scopes, Resources: ar.Resources, Audience: audience, AuthTime: ar.AuthTime, AMR: ar.AMR,
		JKT: jkt,
	}
	resp, err := s.issue(ctx, g, accessOnly{c}, "", &idTokenRequest{g}, "")
	if err != nil {
		return nil, err
	}
	if at, ok := resp.Data.(*oidc.AccessTokenResponse); ok {
		resp.Data = &idjagTokenResponse{AccessTokenResponse: at, Resource: audience}
	}
	return resp, nil
}

// assertionBinding checks an assertion bound to a key (its cnf claim): the request's DPoP
// proof must be signed with that key, as the draft asks. Other kinds of binding than a
// DPoP thumbprint are not supported.
func assertionBinding(cnf any, jkt string) error {
	if cnf == nil {
		return nil
	}
	m, _ := cnf.(map[string]any)
	bound, _ := m["jkt"].(string)
	if bound == "" {
		return oidc.ErrInvalidGrant().WithDescription("the assertion requires proof of possession of a key other than by DPoP, which this server does not support")
	}
	return checkBinding(bound, jkt, "the assertion",
		oidc.ErrInvalidGrant().WithDescription("the assertion is bound to a key: send a DPoP proof of possession of it"))
}

// assertionClient authenticates the client of a jwt-bearer request as the other token
// requests are. Only a confidential client may redeem an ID-JAG, as the draft's security
// considerations ask: anyone can name a public client.
func (s *server) assertionClient(ctx context.Context, r *op.Request[oidc.JWTProfileGrantRequest]) (*client, error) {
	cc := new(op.ClientCredentials)
	if err := s.Provider().Decoder().Decode(cc, r.Form); err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("error decoding form").WithParent(err)
	}
	if id, secret, ok := (&http.Request{Header: r.Header}).BasicAuth(); ok {
		if cc.ClientSecret != "" || cc.ClientAssertion != "" {
			return nil, oidc.ErrInvalidRequest().WithDescription("client authentication must not use more than one method")
		}
		var errID, errSecret error
		cc.ClientID, errID = url.QueryUnescape(id)
		cc.ClientSecret, errSecret = url.QueryUnescape(secret)
		if errID != nil || errSecret != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("invalid basic auth header")
		}
	}
	verified, err := s.VerifyClient(ctx, &op.Request[op.ClientCredentials]{Method: r.Method, URL: r.URL, Header: r.Header, Form: r.Form, Data: cc})
	if err != nil {
		return nil, err
	}
	c, ok := verified.(*client)
	if !ok {
		if c, err = s.p.client(ctx, verified.GetID()); err != nil {
			return nil, err
		}
	}
	if c.AuthMethod() == oidc.AuthMethodNone {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the jwt-bearer grant is for confidential clients: authenticate with the client secret")
	}
	return c, nil
}

// verifyIDJAG checks an assertion: an asymmetric signature by a key of the trusted provider
// its iss names, the ID-JAG typ, this server alone as its audience, and its lifetime.
func (p *Provider) verifyIDJAG(ctx context.Context, raw string) (*assertion, error) {
	tok, err := jwt.ParseSigned(raw, signatureAlgorithms)
	if err != nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("the assertion is not a JWT signed with an asymmetric algorithm")
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isIDJAGType(typ) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the assertion's typ must be %s", idjagType)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("the assertion's claims cannot be read")
	}
	keys, ok := p.idps[unverified.Issuer]
	if !ok {
		return nil, oidc.ErrInvalidGrant().WithDescription("the assertion's issuer is not a trusted identity provider")
	}
	key, err := keys.key(ctx, h.KeyID, h.Algorithm)
	if errors.Is(err, errKeysUnavailable) {
		p.log.ErrorContext(ctx, "an identity provider's keys cannot be fetched", "issuer", unverified.Issuer, "error", err)
		return nil, oidc.ErrServerError().WithDescription("the identity provider's keys cannot be fetched").WithParent(err)
	}
	if err != nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("%s", err.Error())
	}
	a := new(assertion)
	if err := tok.Claims(key, a, &a.claims); err != nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("the assertion's signature does not verify")
	}
	return a, p.checkAssertion(a)
}

// isIDJAGType compares a typ header with the ID-JAG's media type, case-insensitively and
// with or without the "application/" prefix (RFC 7515 section 4.1.9).
func isIDJAGType(typ string) bool {
	typ = strings.ToLower(typ)
	return strings.TrimPrefix(typ, "application/") == idjagType
}

// checkAssertion checks the claims every ID-JAG must carry and its lifetime.
func (p *Provider) checkAssertion(a *assertion) error {
	now := p.now()
	var problem string
	switch {
	case len(a.Audience) != 1 || a.Audience[0] != p.issuer:
		problem = "the assertion's audience must be this authorization server's issuer alone"
	case a.Expiry == nil || a.IssuedAt == nil || a.ID == "" || a.Subject == "" || a.ClientID == "":
		problem = "the assertion lacks exp, iat, jti, sub or client_id"
	case now.After(a.Expiry.Time().Add(assertionLeeway)):
		problem = "the assertion has expired"
	case a.Expiry.Time().After(now.Add(maxAssertionLifetime + assertionLeeway)):
		problem = "the assertion expires more than an hour from now"
	case a.IssuedAt.Time().After(now.Add(assertionLeeway)) || a.IssuedAt.Time().After(a.Expiry.Time()):
		problem = "the assertion's iat is in the future or after its exp"
	case a.NotBefore != nil && a.NotBefore.Time().After(now.Add(assertionLeeway)):
		problem = "the assertion is not valid yet"
	case len(a.ID) > maxJTILen:
		problem = "the assertion's jti is too long"
	default:
		return nil
	}
	return oidc.ErrInvalidGrant().WithDescription("%s", problem)
}

// assertionGrant turns a verified assertion into the authorization it grants: the user, the
// scopes and resources, and the access token's audience (the resources the token request
// names, each granted, or all of them). Its id is derived from issuer and jti.
func (p *Provider) assertionGrant(a *assertion, c *client, requestedScopes, requestedResources []string) (*store.OAuthAuthRequest, []string, error) {
	user := p.assertionUser(a)
	if agent.ValidateIdentifier("user", user) != nil {
		return nil, nil, oidc.ErrInvalidGrant().WithDescription("the assertion names no usable user")
	}
	scopes, err := p.assertionScopes(a.Scope, requestedScopes)
	if err != nil {
		return nil, nil, err
	}
	if len(a.Resource) == 0 {
		return nil, nil, oidc.ErrInvalidGrant().WithDescription("the assertion names no resource")
	}
	resources, err := p.resources(a.Resource)
	if err != nil {
		return nil, nil, err
	}
	audience, err := narrowResources(resources, requestedResources)
	if err != nil {
		return nil, nil, err
	}
	now := p.now()
	authTime := now
	if a.AuthTime != nil && a.AuthTime.Time().Before(now) {
		authTime = a.AuthTime.Time().UTC()
	}
	return &store.OAuthAuthRequest{
		ID: "jag_" + agent.HashToken(a.Issuer+"\n"+a.ID), TenantID: p.cfg.Tenant, ClientID: c.id,
		Scopes: scopes, Resources: resources, Subject: user, AuthTime: authTime, AMR: []string{"id-jag"},
		Done: true, CreatedAt: now, ExpiresAt: a.Expiry.Time().Add(assertionLeeway).UTC(),
	}, audience, nil
}

// assertionUser names the user as an upstream login at the same provider would (by its
// configured claim, sub by default), and by sub for any other provider. Like logins, names
// are not qualified by issuer: every trusted provider speaks for the same users.
func (p *Provider) assertionUser(a *assertion) string {
	claim := "sub"
	if up := p.cfg.Login.Upstream; up.Issuer == a.Issuer && up.UserClaim != "" {
		claim = up.UserClaim
	}
	if claim == "sub" {
		return a.Subject
	}
	user, _ := a.claims[claim].(string)
	return user
}

// assertionScopes are the scopes granted: those of the assertion (the default scopes when it
// names none) that this server maps to permissions, narrowed to the token request's scope
// when it has one. openid and offline_access are never granted this way: no ID token and
// no refresh token come from an ID-JAG.
func (p *Provider) assertionScopes(asserted, requested []string) ([]string, error) {
	asserted = slices.DeleteFunc(slices.Clone(asserted), func(s string) bool { return s == "" })
	if len(asserted) == 0 {
		asserted = p.cfg.DefaultScopes
	}
	var granted []string
	for _, s := range asserted {
		if _, ok := p.cfg.ScopePermissions[s]; ok && !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	if len(granted) == 0 {
		return nil, oidc.ErrInvalidScope().WithDescription("the assertion grants no scope this server offers")
	}
	var out []string
	for _, s := range requested {
		if s == "" || slices.Contains(out, s) {
			continue
		}
		if !slices.Contains(granted, s) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not granted by the assertion", s)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return granted, nil
	}
	return out, nil
}

// accessOnly is a client as issue sees it for an ID-JAG: without the refresh_token grant,
// since the draft has the client present a new ID-JAG instead of refreshing.
type accessOnly struct{ *client }

func (c accessOnly) GrantTypes() []oidc.GrantType {
	return slices.DeleteFunc(c.client.GrantTypes(), func(g oidc.GrantType) bool { return g == oidc.GrantTypeRefreshToken })
}

// advertiseIDJAG adds the jwt-bearer grant and the ID-JAG grant profile to the metadata
// when identity providers are trusted.
func (p *Provider) advertiseIDJAG(m *serverMetadata) {
	if len(p.idps) == 0 {
		return
	}
	m.GrantTypesSupported = append(m.GrantTypesSupported, oidc.GrantTypeBearer)
	m.AuthorizationGrantProfilesSupported = []string{grantProfileIDJAG}
}

// checkTrustedIdPs validates the trusted identity providers: an issuer and a JWKS URL each,
// https (plain http only on a loopback host), no issuer twice, and not this server (the draft
// forbids redeeming one's own ID-JAGs).
func (c *Config) checkTrustedIdPs() error {
	seen := map[string]bool{c.Issuer: true}
	for _, idp := range c.TrustedIdPs {
		for what, raw := range map[string]string{"issuer": idp.Issuer, "JWKS URL": idp.JWKSURL} {
			u, err := url.Parse(raw)
			if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" ||
				(u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
				return fmt.Errorf("oauth: trusted identity provider %q: %s %q must be an https URL (http only on a loopback host)", idp.Issuer, what, raw)
			}
		}
		if seen[idp.Issuer] {
			return fmt.Errorf("oauth: trusted identity provider %q is listed twice, or is this server", idp.Issuer)
		}
		seen[idp.Issuer] = true
	}
	return nil
}
