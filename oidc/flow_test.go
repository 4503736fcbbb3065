package oidc_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/oidc"
)

// TestDiscovery: every metadata URL form answers the same document, with the issuer
// exactly as configured and what MCP clients check; Kavach's own routes stay reachable.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	e := start(t, testserver.Backends[0], devConfig())
	for _, path := range []string{
		"/.well-known/oauth-authorization-server/oauth", "/.well-known/openid-configuration/oauth",
		"/oauth/.well-known/openid-configuration",
	} {
		var doc map[string]any
		if code := oauthtest.GetJSON(t, e.URL+path, &doc); code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		if doc["issuer"] != e.Issuer {
			t.Errorf("%s: issuer %v, want exactly %s", path, doc["issuer"], e.Issuer)
		}
		if m := doc["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
			t.Errorf("%s: code_challenge_methods_supported %v, want [S256]", path, m)
		}
		for _, key := range []string{"registration_endpoint", "authorization_endpoint", "token_endpoint", "jwks_uri",
			"revocation_endpoint", "introspection_endpoint"} {
			if s, _ := doc[key].(string); s == "" {
				t.Errorf("%s: %s missing", path, key)
			}
		}
		if doc["client_id_metadata_document_supported"] != true || doc["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("%s: CIMD and iss support must be advertised: %v", path, doc)
		}
	}
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/other"} {
		if code := oauthtest.GetJSON(t, e.URL+path, nil); code != http.StatusNotFound {
			t.Errorf("%s names another issuer: %d, want 404", path, code)
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d, want 200 (not shadowed by the OAuth routes)", path, resp.StatusCode)
		}
	}
	var jwks struct{ Keys []map[string]any }
	if code := oauthtest.GetJSON(t, e.endpoint("jwks_uri"), &jwks); code != http.StatusOK || len(jwks.Keys) == 0 ||
		jwks.Keys[0]["alg"] != "ES256" || jwks.Keys[0]["d"] != nil {
		t.Fatalf("JWKS: %d %v", code, jwks)
	}
}

// TestAuthorizationCodeFlow walks the whole flow on both stores: registration, PKCE,
// resource, headless dev login, code with state and iss, JWT bound to the resource with the
// agent id, introspection, refresh rotation and revocation.
func TestAuthorizationCodeFlow(t *testing.T) {
	t.Parallel()
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		e := start(t, b, devConfig())
		public := e.register(t, nil)
		rs := e.register(t, map[string]any{"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"authorization_code"}})
		pk := oauthtest.NewPKCE()
		q := callback(t, oauthtest.Authorize(t, e.endpoint("authorization_endpoint"), authParams(public.ID, pk)))
		if q.Get("state") != "st-1" || q.Get("iss") != e.Issuer || q.Get("code") == "" {
			t.Fatalf("authorization response %v: want code, state st-1 and iss %s", q, e.Issuer)
		}
		status, tok := e.token(t, public, exchange(q.Get("code"), pk))
		if status != http.StatusOK || tok["token_type"] != "Bearer" || tok["refresh_token"] == nil {
			t.Fatalf("token: %d %v", status, tok)
		}
		c := claims(t, tok["access_token"].(string))
		exp, iat := c["exp"].(float64), c["iat"].(float64)
		if aud := c["aud"].([]any); len(aud) != 1 || aud[0] != resourceA || c["iss"] != e.Issuer || c["sub"] != "dev-user" ||
			c["scope"] != "mcp" || exp-iat > 601 || exp-iat < 590 {
			t.Fatalf("access token claims %v: want aud [%s], sub dev-user, scope mcp, 10 min", c, resourceA)
		}
		agentID := c["agent_id"].(string)
		a, err := e.Kavach.Agents().Get(kavach.WithActor(context.Background(), api.Root), agentID)
		if err != nil || a.Type != agent.TypeDelegated || a.OwnerID != "dev-user" || len(a.Permissions) != 1 ||
			a.Permissions[0].Resource != "mcp:alpha:*" || !slices.Equal(a.Permissions[0].Actions, []string{"call"}) {
			t.Fatalf("consented agent %+v, %v: want delegated, owned by dev-user, mcp:alpha:* call", a, err)
		}

		introspect := func(token string) map[string]any {
			var out map[string]any
			oauthtest.PostForm(t, e.endpoint("introspection_endpoint"), url.Values{"token": {token}}, rs.ID, rs.Secret, &out)
			return out
		}
		if in := introspect(tok["access_token"].(string)); in["active"] != true || in["agent_id"] != agentID || in["client_id"] != public.ID {
			t.Fatalf("introspection of a live token: %v", in)
		}

		status, next := e.token(t, public, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
		if status != http.StatusOK || next["refresh_token"] == tok["refresh_token"] {
			t.Fatalf("refresh: %d %v (a new refresh token each time)", status, next)
		}
		if nc := claims(t, next["access_token"].(string)); nc["agent_id"] != agentID || nc["aud"].([]any)[0] != resourceA {
			t.Fatalf("refreshed token claims %v", nc)
		}

		// The second consent of the same user and client reuses the agent.
		pk2 := oauthtest.NewPKCE()
		status, again := e.token(t, public, exchange(e.code(t, authParams(public.ID, pk2)), pk2))
		if status != http.StatusOK || claims(t, again["access_token"].(string))["agent_id"] != agentID {
			t.Fatalf("second authorization: %d, agent %v, want the same agent %s", status, claims(t, again["access_token"].(string))["agent_id"], agentID)
		}

		// Revoking the refresh token revokes its grant's access tokens too.
		var none map[string]any
		resp := oauthtest.PostForm(t, e.endpoint("revocation_endpoint"), url.Values{"token": {next["refresh_token"].(string)}, "client_id": {public.ID}}, "", "", &none)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %d %v", resp.StatusCode, none)
		}
		if in := introspect(next["access_token"].(string)); in["active"] != false {
			t.Fatalf("introspection after revocation: %v, want inactive", in)
		}
		if in := introspect(again["access_token"].(string)); in["active"] != true {
			t.Fatalf("another grant's token stays active: %v", in)
		}
	})
}

// TestIssuerWithoutPath: an issuer without a path has its metadata at the root well-known
// URLs and its endpoints under /oauth.
func TestIssuerWithoutPath(t *testing.T) {
	t.Parallel()
	srv := oauthtest.StartConfigured(t, testserver.Backends[0].New(t), devConfig(), func(c *oidc.Config) {
		c.Issuer = strings.TrimSuffix(c.Issuer, "/oauth")
	})
	e := &env{Server: srv}
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		if code := oauthtest.GetJSON(t, srv.URL+path, &e.meta); code != http.StatusOK || e.meta["issuer"] != srv.URL ||
			e.meta["authorization_endpoint"] != srv.URL+"/oauth/authorize" {
			t.Fatalf("%s: %d %v", path, code, e.meta)
		}
	}
	c := e.register(t, nil)
	q := callback(t, oauthtest.Authorize(t, e.endpoint("authorization_endpoint"), authParams(c.ID, oauthtest.NewPKCE())))
	if q.Get("code") == "" || q.Get("iss") != srv.URL {
		t.Fatalf("authorization response %v", q)
	}
}

// TestConfigRefusals: issuers and settings that cannot work are refused at start.
func TestConfigRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  oidc.Config
	}{
		{"plain http on a public host", oidc.Config{Issuer: "http://auth.example.com"}},
		{"query", oidc.Config{Issuer: "https://auth.example.com?x=1"}},
		{"trailing slash", oidc.Config{Issuer: "https://auth.example.com/oauth/"}},
		{"path over the API", oidc.Config{Issuer: "https://auth.example.com/v1"}},
		{"path over health", oidc.Config{Issuer: "https://auth.example.com/healthz"}},
		{"relative", oidc.Config{Issuer: "/oauth"}},
		{"token registration without tokens", oidc.Config{Issuer: "https://a.example", Registration: oidc.RegistrationToken}},
		{"unknown registration mode", oidc.Config{Issuer: "https://a.example", Registration: "sometimes"}},
		{"auto-approve without dev login", oidc.Config{Issuer: "https://a.example", Login: oidc.LoginConfig{DevAutoApprove: true}}},
		{"server name with a colon", oidc.Config{Issuer: "https://a.example", Resources: map[string]string{"https://m.example/mcp": "a:b"}}},
		{"resource with a fragment", oidc.Config{Issuer: "https://a.example", Resources: map[string]string{"https://m.example/mcp#x": "m"}}},
		{"no store", oidc.Config{Issuer: "https://a.example"}},
	} {
		if _, err := oidc.New(context.Background(), tc.cfg); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
