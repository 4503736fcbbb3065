package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/mcpauth"
	"github.com/kavachos/kavach-go/oidc"
)

const jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// idp is an enterprise identity provider: a signing key whose JWKS (and a minimal OpenID
// configuration) it serves on loopback. Its issuer is its URL.
type idp struct {
	issuer string
	mu     sync.Mutex
	key    *ecdsa.PrivateKey
	kid    string
}

func newIdP(t *testing.T) *idp {
	t.Helper()
	i := &idp{}
	i.rotate(t, "idp-key-1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/.well-known/openid-configuration" {
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": i.issuer, "authorization_endpoint": i.issuer + "/authorize",
				"token_endpoint": i.issuer + "/token", "jwks_uri": i.issuer + "/jwks"})
			return
		}
		if r.URL.Path != "/jwks" {
			http.NotFound(w, r)
			return
		}
		i.mu.Lock()
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &i.key.PublicKey, KeyID: i.kid, Algorithm: "ES256", Use: "sig"}}}
		i.mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	i.issuer = srv.URL
	return i
}

// rotate replaces the signing key.
func (i *idp) rotate(t *testing.T, kid string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.key, i.kid = key, kid
}

func (i *idp) trusted() oidc.TrustedIdP {
	return oidc.TrustedIdP{Issuer: i.issuer, JWKSURL: i.issuer + "/jwks"}
}

// claims are those of an ID-JAG the provider issues now for user, client and resourceA.
func (i *idp) claims(audience, clientID, user string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": i.issuer, "sub": user, "aud": audience, "client_id": clientID, "resource": resourceA, "scope": "mcp",
		"jti": rand.Text(), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
}

// jag signs claims as an ID-JAG with the provider's current key.
func (i *idp) jag(t *testing.T, claims map[string]any) string {
	t.Helper()
	i.mu.Lock()
	key := jose.JSONWebKey{Key: i.key, KeyID: i.kid}
	i.mu.Unlock()
	return sign(t, jose.SigningKey{Algorithm: jose.ES256, Key: key}, "oauth-id-jag+jwt", claims)
}

// sign signs claims as a JWT with the given typ header (none when empty).
func sign(t *testing.T, key jose.SigningKey, typ string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// startWithIdP runs a server that trusts the provider, with the headless dev login.
func startWithIdP(t *testing.T, b testserver.Backend, i *idp) *env {
	t.Helper()
	cfg := devConfig()
	cfg.TrustedIdPs = []oidc.TrustedIdP{i.trusted()}
	return start(t, b, cfg)
}

// confidential registers a client with a secret (and the refresh grant, which an ID-JAG
// must not bring).
func (e *env) confidential(t *testing.T) registration {
	t.Helper()
	return e.register(t, map[string]any{"token_endpoint_auth_method": "client_secret_basic"})
}

// redeem presents an assertion at the token endpoint.
func (e *env) redeem(t *testing.T, c registration, assertion string, extra url.Values) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {jwtBearer}, "assertion": {assertion}}
	for k, v := range extra {
		form[k] = v
	}
	return e.token(t, c, form)
}

// TestIDJAGGrant: a client redeems an ID-JAG through golang.org/x/oauth2 for an access
// token that mcpauth accepts, naming the same delegated agent the user's consent made for
// that client; there is no refresh token, and the assertion redeems once. Another user gets
// an agent of their own, with the permissions a consent would give.
func TestIDJAGGrant(t *testing.T) {
	t.Parallel()
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		i := newIdP(t)
		e := startWithIdP(t, b, i)
		if g := e.meta["grant_types_supported"].([]any); !slices.Contains(g, any(jwtBearer)) {
			t.Errorf("grant_types_supported %v lacks %s", g, jwtBearer)
		}
		if p, _ := e.meta["authorization_grant_profiles_supported"].([]any); len(p) != 1 || p[0] != "urn:ietf:params:oauth:grant-profile:id-jag" {
			t.Errorf("authorization_grant_profiles_supported %v", p)
		}
		c := e.confidential(t)

		// The user consents once in the browser flow (auto-approved as dev-user).
		pk := oauthtest.NewPKCE()
		status, consented := e.token(t, c, exchange(e.code(t, authParams(c.ID, pk)), pk))
		if status != http.StatusOK {
			t.Fatalf("code flow: %d %v", status, consented)
		}
		consentAgent := claims(t, consented["access_token"].(string))["agent_id"]

		assertion := i.jag(t, i.claims(e.Issuer, c.ID, "dev-user"))
		conf := &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret,
			Endpoint: oauth2.Endpoint{TokenURL: e.endpoint("token_endpoint"), AuthStyle: oauth2.AuthStyleInHeader}}
		// oauth2 has no call for a jwt-bearer grant with an assertion made elsewhere (its jwt
		// package signs its own); Exchange sends any grant with the parameters given.
		tok, err := conf.Exchange(t.Context(), "", oauth2.SetAuthURLParam("grant_type", jwtBearer), oauth2.SetAuthURLParam("assertion", assertion))
		if err != nil {
			t.Fatal(err)
		}
		if tok.TokenType != "Bearer" || tok.RefreshToken != "" || tok.Extra("scope") != "mcp" || tok.Extra("id_token") != nil {
			t.Fatalf("token response %+v: want a Bearer access token with scope mcp, no refresh or ID token", tok)
		}
		if res, _ := tok.Extra("resource").([]any); len(res) != 1 || res[0] != resourceA {
			t.Fatalf("token response resource %v, want [%s]", tok.Extra("resource"), resourceA)
		}
		at := claims(t, tok.AccessToken)
		if at["sub"] != "dev-user" || at["client_id"] != c.ID || at["aud"].([]any)[0] != resourceA || at["agent_id"] != consentAgent {
			t.Fatalf("access token %v: want sub dev-user, aud %s, the consent's agent %v", at, resourceA, consentAgent)
		}
		guard, err := mcpauth.New(mcpauth.Config{Resource: resourceA, Server: "alpha", Issuer: e.Issuer, Authorizer: e.Kavach})
		if err != nil {
			t.Fatal(err)
		}
		if id, err := guard.VerifyAccessToken(t.Context(), tok.AccessToken); err != nil || id != consentAgent {
			t.Fatalf("mcpauth: agent %q, %v; want %v", id, err, consentAgent)
		}

		status, body := e.redeem(t, c, assertion, nil)
		wantOAuthError(t, "the same assertion again", status, body, http.StatusBadRequest, "invalid_grant")

		status, body = e.redeem(t, c, i.jag(t, i.claims(e.Issuer, c.ID, "alice")), nil)
		if status != http.StatusOK {
			t.Fatalf("alice's assertion: %d %v", status, body)
		}
		id := claims(t, body["access_token"].(string))["agent_id"].(string)
		a, err := e.Kavach.Agents().Get(kavach.WithActor(context.Background(), api.Root), id)
		if err != nil || id == consentAgent || a.Type != agent.TypeDelegated || a.OwnerID != "alice" || a.Metadata["oauthClientId"] != c.ID ||
			len(a.Permissions) != 1 || a.Permissions[0].Resource != "mcp:alpha:*" || !slices.Equal(a.Permissions[0].Actions, []string{"call"}) {
			t.Fatalf("alice's agent %+v, %v: want her own delegated agent for the client with mcp:alpha:* call", a, err)
		}
		status, body = e.redeem(t, c, i.jag(t, i.claims(e.Issuer, c.ID, "alice")), nil)
		if status != http.StatusOK || claims(t, body["access_token"].(string))["agent_id"] != id {
			t.Fatalf("alice's second assertion: %d %v, want her agent %s again", status, body, id)
		}
	})
}

// TestIDJAGReplayAcrossInstances: two instances on one database (one issuer behind a load
// balancer) redeem an assertion once between them.
func TestIDJAGReplayAcrossInstances(t *testing.T) {
	t.Parallel()
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		i := newIdP(t)
		db := b.New(t)
		cfg := devConfig()
		cfg.TrustedIdPs = []oidc.TrustedIdP{i.trusted()}
		one := &env{Server: oauthtest.Start(t, db, cfg)}
		oauthtest.GetJSON(t, one.URL+"/.well-known/oauth-authorization-server/oauth", &one.meta)
		two := &env{Server: oauthtest.StartConfigured(t, db, cfg, func(c *oidc.Config) { c.Issuer = one.Issuer })}
		two.meta = map[string]any{"token_endpoint": two.URL + "/oauth/token"}
		c := one.confidential(t)
		assertion := i.jag(t, i.claims(one.Issuer, c.ID, "alice"))
		if status, body := one.redeem(t, c, assertion, nil); status != http.StatusOK {
			t.Fatalf("first instance: %d %v", status, body)
		}
		status, body := two.redeem(t, c, assertion, nil)
		wantOAuthError(t, "the assertion at the second instance", status, body, http.StatusBadRequest, "invalid_grant")
	})
}

// TestIDJAGRefusals: every check of an ID-JAG and of the client presenting it refuses with
// the error RFC 6749, RFC 8707 and the draft name.
func TestIDJAGRefusals(t *testing.T) {
	t.Parallel()
	i := newIdP(t)
	e := startWithIdP(t, testserver.Backends[0], i)
	c, other := e.confidential(t), e.confidential(t)
	public := e.register(t, nil)
	now := time.Now()
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	valid := func() map[string]any { return i.claims(e.Issuer, c.ID, "alice") }
	with := func(changes map[string]any) string {
		cl := valid()
		for k, v := range changes {
			if v == nil {
				delete(cl, k)
			} else {
				cl[k] = v
			}
		}
		return i.jag(t, cl)
	}
	for _, tc := range []struct {
		name      string
		client    registration
		assertion string
		form      url.Values
		status    int
		error     string
		why       string // in the error_description
	}{
		{"another audience", c, with(map[string]any{"aud": "https://other.example.com/oauth"}), nil, 400, "invalid_grant", "audience"},
		{"a second audience", c, with(map[string]any{"aud": []string{e.Issuer, "https://other.example.com"}}), nil, 400, "invalid_grant", "audience"},
		{"issued to another client", other, with(nil), nil, 400, "invalid_grant", "another client"},
		{"expired", c, with(map[string]any{"iat": now.Add(-10 * time.Minute).Unix(), "exp": now.Add(-2 * time.Minute).Unix()}), nil, 400, "invalid_grant", "expired"},
		{"issued in the future", c, with(map[string]any{"iat": now.Add(5 * time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix()}), nil, 400, "invalid_grant", "iat"},
		{"expiring in three hours", c, with(map[string]any{"exp": now.Add(3 * time.Hour).Unix()}), nil, 400, "invalid_grant", "more than an hour"},
		{"without jti", c, with(map[string]any{"jti": nil}), nil, 400, "invalid_grant", "lacks"},
		{"without exp", c, with(map[string]any{"exp": nil}), nil, 400, "invalid_grant", "lacks"},
		{"without client_id", c, with(map[string]any{"client_id": nil}), nil, 400, "invalid_grant", "lacks"},
		{"an untrusted issuer", c, with(map[string]any{"iss": "https://idp.attacker.example"}), nil, 400, "invalid_grant", "not a trusted identity provider"},
		{"a bad signature", c, sign(t, jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: otherKey, KeyID: "idp-key-1"}}, "oauth-id-jag+jwt", valid()), nil, 400, "invalid_grant", "signature does not verify"},
		{"an unknown key", c, sign(t, jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: otherKey, KeyID: "made-up"}}, "oauth-id-jag+jwt", valid()), nil, 400, "invalid_grant", "does not publish"},
		{"HMAC", c, sign(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))}, "oauth-id-jag+jwt", valid()), nil, 400, "invalid_grant", "asymmetric"},
		{"typ JWT", c, sign(t, jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: i.key, KeyID: "idp-key-1"}}, "JWT", valid()), nil, 400, "invalid_grant", "typ"},
		{"no typ", c, sign(t, jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: i.key, KeyID: "idp-key-1"}}, "", valid()), nil, 400, "invalid_grant", "typ"},
		{"not a JWT", c, "not-a-jwt", nil, 400, "invalid_grant", "asymmetric"},
		{"no resource", c, with(map[string]any{"resource": nil}), nil, 400, "invalid_grant", "no resource"},
		{"a resource not served here", c, with(map[string]any{"resource": "https://elsewhere.example.com/mcp"}), nil, 400, "invalid_target", "not served"},
		{"a token resource not granted", c, with(nil), url.Values{"resource": {resourceB}}, 400, "invalid_target", "not authorized"},
		{"no scope offered here", c, with(map[string]any{"scope": "chat.read chat.history"}), nil, 400, "invalid_scope", "no scope"},
		{"a token scope not granted", c, with(nil), url.Values{"scope": {"openid"}}, 400, "invalid_scope", "not granted"},
		{"an unusable user", c, with(map[string]any{"sub": "two words"}), nil, 400, "invalid_grant", "no usable user"},
		{"bound to a key (cnf)", c, with(map[string]any{"cnf": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}), nil, 400, "invalid_grant", "proof of possession"},
		{"a public client", public, i.jag(t, i.claims(e.Issuer, public.ID, "alice")), nil, 400, "unauthorized_client", "confidential"},
	} {
		status, body := e.redeem(t, tc.client, tc.assertion, tc.form)
		wantOAuthError(t, tc.name, status, body, tc.status, tc.error)
		if d, _ := body["error_description"].(string); !strings.Contains(d, tc.why) {
			t.Errorf("%s: error_description %q, want it to say %q", tc.name, d, tc.why)
		}
	}

	// A wrong secret fails client authentication (400 or 401: the status is the client
	// authentication's, not this grant's).
	status, body := e.redeem(t, registration{ID: c.ID, Secret: "wrong"}, with(nil), nil)
	if (status != http.StatusBadRequest && status != http.StatusUnauthorized) || body["error"] != "invalid_client" {
		t.Fatalf("a wrong client secret: %d %v, want invalid_client", status, body)
	}

	// An assertion for two resources yields a token for the one the request names.
	status, body = e.redeem(t, c, with(map[string]any{"resource": []string{resourceA, resourceB}}), url.Values{"resource": {resourceB}})
	if status != http.StatusOK || !slices.Equal(claims(t, body["access_token"].(string))["aud"].([]any), []any{resourceB}) {
		t.Fatalf("narrowing to %s: %d %v", resourceB, status, body)
	}
}

// TestIDJAGKeyRotation: a key the provider published after the last fetch is found by
// refetching the JWKS, at most every ten seconds whatever assertions name.
func TestIDJAGKeyRotation(t *testing.T) {
	t.Parallel()
	i, clk := newIdP(t), newClock()
	cfg := devConfig()
	cfg.TrustedIdPs, cfg.Now = []oidc.TrustedIdP{i.trusted()}, clk.Now
	e := start(t, testserver.Backends[0], cfg)
	c := e.confidential(t)
	if status, body := e.redeem(t, c, i.jag(t, i.claims(e.Issuer, c.ID, "alice")), nil); status != http.StatusOK {
		t.Fatalf("before the rotation: %d %v", status, body)
	}
	i.rotate(t, "idp-key-2")
	status, body := e.redeem(t, c, i.jag(t, i.claims(e.Issuer, c.ID, "alice")), nil)
	wantOAuthError(t, "a new key right after a fetch", status, body, http.StatusBadRequest, "invalid_grant")
	clk.Advance(11 * time.Second)
	if status, body := e.redeem(t, c, i.jag(t, i.claims(e.Issuer, c.ID, "alice")), nil); status != http.StatusOK {
		t.Fatalf("the new key ten seconds later: %d %v", status, body)
	}
}

// TestIDJAGUpstreamUserClaim: an assertion from the provider users log in at names the user
// by the same claim as that login.
func TestIDJAGUpstreamUserClaim(t *testing.T) {
	t.Parallel()
	i := newIdP(t)
	cfg := devConfig()
	cfg.TrustedIdPs = []oidc.TrustedIdP{i.trusted()}
	cfg.Login = oidc.LoginConfig{Upstream: oidc.UpstreamConfig{Issuer: i.issuer, ClientID: "kavach", ClientSecret: "s", UserClaim: "email"}}
	e := start(t, testserver.Backends[0], cfg)
	c := e.confidential(t)
	cl := i.claims(e.Issuer, c.ID, "U019488227")
	cl["email"] = "alice@example.com"
	status, body := e.redeem(t, c, i.jag(t, cl), nil)
	if status != http.StatusOK || claims(t, body["access_token"].(string))["sub"] != "alice@example.com" {
		t.Fatalf("redeeming: %d %v, want the user named by email", status, body)
	}
	status, body = e.redeem(t, c, i.jag(t, i.claims(e.Issuer, c.ID, "U019488227")), nil)
	wantOAuthError(t, "no email", status, body, http.StatusBadRequest, "invalid_grant")
}

// TestIDJAGNotConfigured: without trusted identity providers the grant is neither offered
// nor accepted.
func TestIDJAGNotConfigured(t *testing.T) {
	t.Parallel()
	i := newIdP(t)
	e := start(t, testserver.Backends[0], devConfig())
	if g := e.meta["grant_types_supported"].([]any); slices.Contains(g, any(jwtBearer)) || e.meta["authorization_grant_profiles_supported"] != nil {
		t.Errorf("metadata advertises the grant: %v", e.meta)
	}
	c := e.confidential(t)
	status, body := e.redeem(t, c, i.jag(t, i.claims(e.Issuer, c.ID, "alice")), nil)
	wantOAuthError(t, "jwt-bearer", status, body, http.StatusBadRequest, "unsupported_grant_type")
}

// TestIDJAGProviderUnreachable: keys that cannot be fetched are a server error, not the
// assertion's fault.
func TestIDJAGProviderUnreachable(t *testing.T) {
	t.Parallel()
	i := newIdP(t)
	cfg := devConfig()
	cfg.TrustedIdPs = []oidc.TrustedIdP{{Issuer: i.issuer, JWKSURL: i.issuer + "/missing"}}
	e := start(t, testserver.Backends[0], cfg)
	c := e.confidential(t)
	status, body := e.redeem(t, c, i.jag(t, i.claims(e.Issuer, c.ID, "alice")), nil)
	wantOAuthError(t, "keys that answer 404", status, body, http.StatusInternalServerError, "server_error")
}

// TestIDJAGConfigRefusals: trusted providers that cannot work are refused at start.
func TestIDJAGConfigRefusals(t *testing.T) {
	t.Parallel()
	for name, idps := range map[string][]oidc.TrustedIdP{
		"plain http issuer":  {{Issuer: "http://idp.example.com", JWKSURL: "https://idp.example.com/jwks"}},
		"plain http keys":    {{Issuer: "https://idp.example.com", JWKSURL: "http://idp.example.com/jwks"}},
		"no keys":            {{Issuer: "https://idp.example.com"}},
		"no issuer":          {{JWKSURL: "https://idp.example.com/jwks"}},
		"the same one twice": {{Issuer: "https://idp.example.com", JWKSURL: "https://idp.example.com/a"}, {Issuer: "https://idp.example.com", JWKSURL: "https://idp.example.com/b"}},
		"this server":        {{Issuer: "https://a.example", JWKSURL: "https://a.example/oauth/jwks"}},
	} {
		_, err := oidc.New(context.Background(), oidc.Config{Issuer: "https://a.example", TrustedIdPs: idps})
		if err == nil || !strings.Contains(err.Error(), "trusted identity provider") {
			t.Errorf("%s: %v, want a refusal naming the trusted identity provider", name, err)
		}
	}
}

// TestIDJAGDocsExample sends the token request docs/oauth.md shows, as written, with curl.
func TestIDJAGDocsExample(t *testing.T) {
	t.Parallel()
	var block string
	for _, b := range docShellBlocks(t, "Enterprise-managed authorization (ID-JAG)") {
		if strings.HasPrefix(b, `curl -s -u "$CLIENT_ID:$CLIENT_SECRET"`) {
			block = b
		}
	}
	if block == "" {
		t.Fatal("the ID-JAG curl example in docs/oauth.md is gone")
	}
	i := newIdP(t)
	e := startWithIdP(t, testserver.Backends[0], i)
	c := e.confidential(t)
	tok := runShell(t, strings.ReplaceAll(block, "https://auth.example.com/oauth", e.Issuer),
		"CLIENT_ID="+c.ID, "CLIENT_SECRET="+c.Secret, "ID_JAG="+i.jag(t, i.claims(e.Issuer, c.ID, "alice")))
	if tok["token_type"] != "Bearer" || tok["access_token"] == nil {
		t.Fatalf("%s\n%v", block, tok)
	}
}
