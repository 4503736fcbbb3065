package oidc_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// dpopToken posts to the token endpoint with a DPoP proof (none when proof is "").
func (e *env) dpopToken(t *testing.T, r registration, form url.Values, proof string) (int, map[string]any) {
	t.Helper()
	if r.Secret == "" {
		form.Set("client_id", r.ID)
	}
	return oauthtest.PostFormDPoP(t, e.endpoint("token_endpoint"), form, r.ID, r.Secret, proof)
}

// TestDPoPBindsTokens: with a proof, the code grant answers token_type DPoP and an access
// token whose cnf.jkt is the key's thumbprint; a public client's refresh token is bound to
// the key too, so refreshing needs a proof of that key. Without a proof, tokens are Bearer,
// until the client proves a key at refresh.
// Introspection reports the binding; userinfo refuses bound tokens. Browsers may send the
// DPoP header across origins.
func TestDPoPBindsTokens(t *testing.T) {
	t.Parallel()
	e := start(t, testserver.Backends[0], devConfig())
	algs, _ := e.meta["dpop_signing_alg_values_supported"].([]any)
	if !slices.Contains(algs, any("ES256")) || slices.Contains(algs, any("HS256")) {
		t.Fatalf("dpop_signing_alg_values_supported %v", algs)
	}
	req, _ := http.NewRequest(http.MethodOptions, e.endpoint("token_endpoint"), nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", http.MethodPost)
	req.Header.Set("Access-Control-Request-Headers", "content-type, dpop")
	resp, err := oauthtest.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(allowed, "dpop") {
		t.Errorf("a browser may not send DPoP to the token endpoint: %d %v", resp.StatusCode, resp.Header)
	}
	c := e.register(t, nil)
	key, other := oauthtest.NewDPoPKey(t), oauthtest.NewDPoPKey(t)
	tokenURL := e.endpoint("token_endpoint")
	proof := func(k *oauthtest.DPoPKey) string {
		return k.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL})
	}

	pk := oauthtest.NewPKCE()
	status, out := e.dpopToken(t, c, exchange(e.code(t, authParams(c.ID, pk)), pk), proof(key))
	if status != 200 || out["token_type"] != "DPoP" {
		t.Fatalf("code with a proof: %d %v", status, out)
	}
	cnf, _ := claims(t, out["access_token"].(string))["cnf"].(map[string]any)
	if cnf["jkt"] != key.JKT(t) {
		t.Fatalf("cnf %v, want jkt %s", cnf, key.JKT(t))
	}
	access, refresh := out["access_token"].(string), out["refresh_token"].(string)
	rs := e.register(t, map[string]any{"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"authorization_code"}})
	var info map[string]any
	oauthtest.PostForm(t, e.endpoint("introspection_endpoint"), url.Values{"token": {access}}, rs.ID, rs.Secret, &info)
	if cnf, _ := info["cnf"].(map[string]any); info["active"] != true || info["token_type"] != "DPoP" || cnf["jkt"] != key.JKT(t) {
		t.Errorf("introspection of a bound access token: %v", info)
	}
	if status := userinfo(t, e, access); status != http.StatusUnauthorized {
		t.Errorf("userinfo with a bound token: %d, want 401", status)
	}
	refreshForm := func() url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	}

	status, out = e.dpopToken(t, c, refreshForm(), "")
	wantOAuthError(t, "refresh without a proof", status, out, 400, "invalid_grant")
	status, out = e.dpopToken(t, c, refreshForm(), proof(other))
	wantOAuthError(t, "refresh with another key", status, out, 400, "invalid_dpop_proof")
	tampered := strings.TrimSuffix(refresh, key.JKT(t)) + other.JKT(t)
	status, out = e.dpopToken(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tampered}}, proof(other))
	wantOAuthError(t, "refresh token rebound to another key", status, out, 400, "invalid_grant")

	status, out = e.dpopToken(t, c, refreshForm(), proof(key))
	if status != 200 || out["token_type"] != "DPoP" {
		t.Fatalf("refresh with the key: %d %v", status, out)
	}
	if cnf, _ := claims(t, out["access_token"].(string))["cnf"].(map[string]any); cnf["jkt"] != key.JKT(t) {
		t.Fatalf("refreshed cnf %v", cnf)
	}
	if next, _ := out["refresh_token"].(string); !strings.HasSuffix(next, "."+key.JKT(t)) {
		t.Fatalf("the rotated refresh token must stay bound: %q", next)
	}

	pk = oauthtest.NewPKCE()
	status, out = e.dpopToken(t, c, exchange(e.code(t, authParams(c.ID, pk)), pk), "")
	if status != 200 || out["token_type"] != "Bearer" || claims(t, out["access_token"].(string))["cnf"] != nil {
		t.Fatalf("code without a proof: %d %v", status, out)
	}
	if status := userinfo(t, e, out["access_token"].(string)); status != http.StatusOK {
		t.Errorf("userinfo with an unbound token: %d, want 200", status)
	}
	// A public client that starts proving a key at refresh has its refresh token bound.
	status, out = e.dpopToken(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {out["refresh_token"].(string)}}, proof(other))
	if next, _ := out["refresh_token"].(string); status != 200 || out["token_type"] != "DPoP" || !strings.HasSuffix(next, "."+other.JKT(t)) {
		t.Fatalf("refreshing an unbound refresh token with a proof: %d %v", status, out)
	}
}

// userinfo calls the userinfo endpoint with a bearer token and returns the status.
func userinfo(t *testing.T, e *env, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.endpoint("userinfo_endpoint"), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := oauthtest.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDPoPProofRefusals: a proof that is malformed, signed with a shared secret, carries a
// private key, names another URL or method, is stale or replayed is invalid_dpop_proof,
// and is checked before the code is spent.
func TestDPoPProofRefusals(t *testing.T) {
	t.Parallel()
	e := start(t, testserver.Backends[0], devConfig())
	c := e.register(t, nil)
	key := oauthtest.NewDPoPKey(t)
	tokenURL := e.endpoint("token_endpoint")
	replayed := key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL})
	pk := oauthtest.NewPKCE()
	code := e.code(t, authParams(c.ID, pk))
	if status, out := e.dpopToken(t, c, url.Values{"grant_type": {"authorization_code"}, "code": {"nope"},
		"redirect_uri": {redirectURI}, "code_verifier": {pk.Verifier}}, replayed); status != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("first use of the proof: %d %v", status, out)
	}
	for _, tc := range []struct {
		name, proof string
	}{
		{"not a JWS", "not.a.proof"},
		{"typ JWT", key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL, Typ: "JWT"})},
		{"private key in the header", key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL, EmbedPrivate: true})},
		{"HS256", oauthtest.HMACDPoPProof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL})},
		{"another URL", key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL + "x"})},
		{"another method", key.Proof(t, oauthtest.DPoPClaims{Method: "GET", URL: tokenURL})},
		{"stale iat", key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL, IAT: time.Now().Add(-5 * time.Minute)})},
		{"iat in the future", key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL, IAT: time.Now().Add(5 * time.Minute)})},
		{"replayed jti", replayed},
	} {
		status, out := e.dpopToken(t, c, exchange(code, pk), tc.proof)
		if status != 400 || out["error"] != "invalid_dpop_proof" {
			t.Errorf("%s: %d %v, want 400 invalid_dpop_proof", tc.name, status, out)
		}
	}
	// htu is compared without query, with the default port and host case normalized.
	u, _ := url.Parse(tokenURL)
	u.Host = strings.ToUpper(u.Host)
	u.RawQuery = "x=1"
	status, out := e.dpopToken(t, c, exchange(code, pk), key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: u.String()}))
	if status != 200 || out["token_type"] != "DPoP" {
		t.Fatalf("the code after refused proofs, with an equivalent htu: %d %v", status, out)
	}
}

// TestDPoPTokenExchange: a token exchange with a proof issues a DPoP-bound token (cnf.jkt,
// token_type DPoP); a bad proof is invalid_dpop_proof before anything is delegated.
func TestDPoPTokenExchange(t *testing.T) {
	t.Parallel()
	w := newXWorld(t, testserver.Backends[0], nil)
	_, kv := w.agent(t, "alice", agent.Permission{Resource: "mcp:files:*", Actions: []string{"call"}})
	key := oauthtest.NewDPoPKey(t)
	tokenURL := w.endpoint("token_endpoint")
	form := func() url.Values {
		return url.Values{"grant_type": {grantExchange}, "subject_token": {kv}, "subject_token_type": {typeAgent}, "resource": {w.resource}}
	}
	status, out := w.dpopToken(t, w.client, form(), key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL + "/other"}))
	wantOAuthError(t, "exchange with a proof of another URL", status, out, 400, "invalid_dpop_proof")
	status, out = w.dpopToken(t, w.client, form(), key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL}))
	if status != 200 || out["token_type"] != "DPoP" || out["issued_token_type"] != typeAccess {
		t.Fatalf("exchange with a proof: %d %v", status, out)
	}
	if cnf, _ := claims(t, out["access_token"].(string))["cnf"].(map[string]any); cnf["jkt"] != key.JKT(t) {
		t.Fatalf("exchanged token's cnf %v, want jkt %s", cnf, key.JKT(t))
	}
}

// TestDPoPBoundIDJAG: an ID-JAG bound to a key (cnf.jkt) is redeemed with a DPoP proof of
// that key, and its access token is bound to it; without a proof, or with another key, it
// is refused and stays unredeemed.
func TestDPoPBoundIDJAG(t *testing.T) {
	t.Parallel()
	i := newIdP(t)
	e := startWithIdP(t, testserver.Backends[0], i)
	c := e.confidential(t)
	key, other := oauthtest.NewDPoPKey(t), oauthtest.NewDPoPKey(t)
	cl := i.claims(e.Issuer, c.ID, "alice")
	cl["cnf"] = map[string]any{"jkt": key.JKT(t)}
	assertion := i.jag(t, cl)
	form := func() url.Values { return url.Values{"grant_type": {jwtBearer}, "assertion": {assertion}} }
	proof := func(k *oauthtest.DPoPKey) string {
		return k.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: e.endpoint("token_endpoint")})
	}
	status, out := e.dpopToken(t, c, form(), "")
	wantOAuthError(t, "a bound assertion without a proof", status, out, 400, "invalid_grant")
	status, out = e.dpopToken(t, c, form(), proof(other))
	wantOAuthError(t, "a bound assertion with another key", status, out, 400, "invalid_dpop_proof")
	status, out = e.dpopToken(t, c, form(), proof(key))
	if status != 200 || out["token_type"] != "DPoP" {
		t.Fatalf("a bound assertion with its key: %d %v", status, out)
	}
	if cnf, _ := claims(t, out["access_token"].(string))["cnf"].(map[string]any); cnf["jkt"] != key.JKT(t) {
		t.Fatalf("cnf %v, want jkt %s", cnf, key.JKT(t))
	}
}

// TestDPoPBoundTokensAreExchangedOnlyWithTheirKey: a DPoP-bound access token is worth
// nothing without its key, and token exchange must not change that. Presented as
// subject_token or as actor_token without a proof, it is refused (invalid_request, naming
// the token); with a proof of another key, invalid_dpop_proof; nothing is issued either
// way. With a proof of its own key it is exchanged, and the new token is bound to that key.
func TestDPoPBoundTokensAreExchangedOnlyWithTheirKey(t *testing.T) {
	t.Parallel()
	w := newXWorld(t, testserver.Backends[0], nil)
	key, other := oauthtest.NewDPoPKey(t), oauthtest.NewDPoPKey(t)
	tokenURL := w.endpoint("token_endpoint")
	proof := func(k *oauthtest.DPoPKey) string {
		return k.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL})
	}
	pk := oauthtest.NewPKCE()
	params := authParams(w.public.ID, pk)
	params.Set("resource", w.resource)
	form := exchange(w.code(t, params), pk)
	form.Set("resource", w.resource)
	status, out := w.dpopToken(t, w.public, form, proof(key))
	if status != http.StatusOK || out["token_type"] != "DPoP" {
		t.Fatalf("code flow with a proof: %d %v", status, out)
	}
	bound := out["access_token"].(string)

	asSubject := func() url.Values {
		return url.Values{"grant_type": {grantExchange}, "subject_token": {bound}, "subject_token_type": {typeAccess},
			"resource": {w.resource}}
	}
	_, attacker := w.agent(t, "dev-user", agent.Permission{Resource: "mcp:files:*", Actions: []string{"call"}})
	asActor := func() url.Values {
		return url.Values{"grant_type": {grantExchange}, "subject_token": {attacker}, "subject_token_type": {typeAgent},
			"actor_token": {bound}, "actor_token_type": {typeAccess}, "resource": {w.resource}}
	}
	for _, c := range []struct {
		name, field string
		form        func() url.Values
	}{{"subject_token", "subject_token", asSubject}, {"actor_token", "actor_token", asActor}} {
		status, out := w.dpopToken(t, w.client, c.form(), "")
		wantOAuthError(t, c.name+" bound, no proof", status, out, http.StatusBadRequest, "invalid_request")
		if d, _ := out["error_description"].(string); !strings.Contains(d, c.field) || !strings.Contains(d, "DPoP") {
			t.Errorf("%s bound, no proof: the description %q should name %s and DPoP", c.name, d, c.field)
		}
		status, out = w.dpopToken(t, w.client, c.form(), proof(other))
		wantOAuthError(t, c.name+" bound, another key's proof", status, out, http.StatusBadRequest, "invalid_dpop_proof")
	}
	status, out = w.dpopToken(t, w.client, asSubject(), proof(key))
	if status != http.StatusOK || out["token_type"] != "DPoP" {
		t.Fatalf("exchange with a proof of the bound key: %d %v", status, out)
	}
	if cnf, _ := claims(t, out["access_token"].(string))["cnf"].(map[string]any); cnf["jkt"] != key.JKT(t) {
		t.Fatalf("the exchanged token's cnf is %v, want jkt %s", cnf, key.JKT(t))
	}
}
