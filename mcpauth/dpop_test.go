package mcpauth_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/mcpauth"
)

// dpopAccessToken runs the OAuth flow with a DPoP proof at the token endpoint and returns
// an access token bound to key.
func (w *world) dpopAccessToken(t *testing.T, key *oauthtest.DPoPKey) string {
	t.Helper()
	pk := oauthtest.NewPKCE()
	resp := oauthtest.Authorize(t, w.authorize, url.Values{
		"response_type": {"code"}, "client_id": {w.clientID}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "scope": {"mcp"},
		"code_challenge": {pk.Challenge}, "code_challenge_method": {"S256"}, "resource": {w.resource}, "state": {"s"},
	})
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	proof := key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: w.token})
	status, tok := oauthtest.PostFormDPoP(t, w.token, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {"http://127.0.0.1:9/cb"}, "code_verifier": {pk.Verifier}, "client_id": {w.clientID}, "resource": {w.resource}}, "", "", proof)
	at, _ := tok["access_token"].(string)
	if status != http.StatusOK || tok["token_type"] != "DPoP" || at == "" {
		t.Fatalf("no DPoP-bound access token: %d %v", status, tok)
	}
	return at
}

// dpopRequest is a JSON-RPC POST to the resource with the given Authorization and DPoP
// headers ("" leaves one out).
func (w *world) dpopRequest(t *testing.T, method, authorization, proof string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, w.resource, strings.NewReader(toolCall("read", nil)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return req
}

func send(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestDPoPBoundTokens: a token bound to a DPoP key is accepted with the DPoP scheme and a
// fresh proof of the request signed with that key, and refused — 401 with a DPoP
// challenge naming the algorithms — without a proof, as Bearer, with a proof of another
// method, URL or key, a replayed or stale proof, or a missing or wrong ath. An unbound
// token is refused with the DPoP scheme.
func TestDPoPBoundTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testserver.Backends[0], nil)
	key, other := oauthtest.NewDPoPKey(t), oauthtest.NewDPoPKey(t)
	token := w.dpopAccessToken(t, key)
	fresh := func(k *oauthtest.DPoPKey, c oauthtest.DPoPClaims) string {
		if c.Method == "" {
			c.Method = http.MethodPost
		}
		if c.URL == "" {
			c.URL = w.resource
		}
		if c.AccessToken == "" && c.ATH == "" {
			c.AccessToken = token
		}
		return k.Proof(t, c)
	}

	replayed := fresh(key, oauthtest.DPoPClaims{})
	resp, body := send(t, w.dpopRequest(t, http.MethodPost, "DPoP "+token, replayed))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a bound token with a fresh proof: %d %s %q", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
	if n := resp.Header.Get("DPoP-Nonce"); n != "" {
		t.Errorf("a DPoP-Nonce %q though nonces are not required", n)
	}
	if r := <-w.seen; r.Header.Get("DPoP") != "" || r.Header.Get("Authorization") != "" {
		t.Errorf("the MCP server saw the credentials: %v", r.Header)
	}
	// The query string is not part of htu.
	req := w.dpopRequest(t, http.MethodPost, "DPoP "+token, fresh(key, oauthtest.DPoPClaims{}))
	req.URL.RawQuery = "session=1"
	if resp, body := send(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("with a query string: %d %s", resp.StatusCode, body)
	}
	<-w.seen

	unbound := w.accessToken(t, w.resource, "mcp")
	noATH := key.Proof(t, oauthtest.DPoPClaims{Method: http.MethodPost, URL: w.resource})
	for _, tc := range []struct {
		name, authorization, proof, code string
	}{
		{"no proof", "DPoP " + token, "", "invalid_dpop_proof"},
		{"as Bearer", "Bearer " + token, fresh(key, oauthtest.DPoPClaims{}), "invalid_token"},
		{"as Bearer without a proof", "Bearer " + token, "", "invalid_token"},
		{"another method", "DPoP " + token, fresh(key, oauthtest.DPoPClaims{Method: http.MethodGet}), "invalid_dpop_proof"},
		{"another URL", "DPoP " + token, fresh(key, oauthtest.DPoPClaims{URL: w.resource + "/other"}), "invalid_dpop_proof"},
		{"another key", "DPoP " + token, fresh(other, oauthtest.DPoPClaims{}), "invalid_dpop_proof"},
		{"replayed jti", "DPoP " + token, replayed, "invalid_dpop_proof"},
		{"stale iat", "DPoP " + token, fresh(key, oauthtest.DPoPClaims{IAT: time.Now().Add(-5 * time.Minute)}), "invalid_dpop_proof"},
		{"no ath", "DPoP " + token, noATH, "invalid_dpop_proof"},
		{"wrong ath", "DPoP " + token, fresh(key, oauthtest.DPoPClaims{ATH: "AAAA"}), "invalid_dpop_proof"},
		{"HS256", "DPoP " + token, oauthtest.HMACDPoPProof(t, oauthtest.DPoPClaims{Method: http.MethodPost, URL: w.resource, AccessToken: token}), "invalid_dpop_proof"},
		{"unbound token as DPoP", "DPoP " + unbound, fresh(key, oauthtest.DPoPClaims{AccessToken: unbound}), "invalid_token"},
	} {
		resp, body := send(t, w.dpopRequest(t, http.MethodPost, tc.authorization, tc.proof))
		challenge := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, "DPoP ") ||
			!strings.Contains(challenge, `error="`+tc.code+`"`) || !strings.Contains(challenge, `algs="ES256`) ||
			resp.Header.Get("DPoP-Nonce") != "" {
			t.Errorf("%s: %d %s %q, want 401 with a DPoP challenge, error %s", tc.name, resp.StatusCode, body, challenge, tc.code)
		}
	}
	select {
	case r := <-w.seen:
		t.Fatalf("a refused request reached the MCP server: %v", r.Header)
	default:
	}
}

// TestVerifyRequest: VerifyAccessToken refuses a DPoP-bound token, whose proof it cannot
// see; VerifyRequest checks the proof with the request.
func TestVerifyRequest(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testserver.Backends[0], nil)
	g, err := mcpauth.New(mcpauth.Config{Resource: w.resource, Server: "files", Issuer: w.as.Issuer, Authorizer: w.as.Kavach})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := oauthtest.NewDPoPKey(t)
	token := w.dpopAccessToken(t, key)
	if id, err := g.VerifyAccessToken(ctx, token); err == nil {
		t.Fatalf("VerifyAccessToken accepted a DPoP-bound token for %q", id)
	}
	proof := key.Proof(t, oauthtest.DPoPClaims{Method: http.MethodPost, URL: w.resource, AccessToken: token})
	if id, err := g.VerifyRequest(ctx, w.dpopRequest(t, http.MethodPost, "DPoP "+token, proof)); err != nil || id == "" {
		t.Fatalf("VerifyRequest with a proof: %q, %v", id, err)
	}
	if _, err := g.VerifyRequest(ctx, w.dpopRequest(t, http.MethodPost, "DPoP "+token, proof)); err == nil {
		t.Fatal("VerifyRequest accepted a replayed proof")
	}
	if _, err := g.VerifyRequest(ctx, w.dpopRequest(t, http.MethodPost, "Bearer "+token, "")); err == nil {
		t.Fatal("VerifyRequest accepted a DPoP-bound token as Bearer")
	}
	unbound := w.accessToken(t, w.resource, "mcp")
	if id, err := g.VerifyRequest(ctx, w.dpopRequest(t, http.MethodPost, "Bearer "+unbound, "")); err != nil || id == "" {
		t.Fatalf("VerifyRequest with a bearer token: %q, %v", id, err)
	}
}

// TestNetHTTPChecksDPoPProofs: adapters/nethttp with a Guard as its AccessTokens verifies
// DPoP-bound tokens with their request: with a proof the call is authorized (and denied,
// the agent holding no permission on the route), without one it is unauthenticated.
func TestNetHTTPChecksDPoPProofs(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testserver.Backends[0], nil)
	ng := w.netHTTPGuard(t, mcpauth.Config{})
	key := oauthtest.NewDPoPKey(t)
	token := w.dpopAccessToken(t, key)
	req := w.dpopRequest(t, http.MethodPost, "DPoP "+token,
		key.Proof(t, oauthtest.DPoPClaims{Method: http.MethodPost, URL: w.resource, AccessToken: token}))
	if _, refusal := ng.Check(req, api.AuthorizeRequest{Action: "read", Resource: "repo:x"}); refusal == nil ||
		refusal.Status != http.StatusForbidden {
		t.Fatalf("with a proof: %+v, want the token accepted and the call denied (403)", refusal)
	}
	for name, req := range map[string]*http.Request{
		"DPoP without a proof": w.dpopRequest(t, http.MethodPost, "DPoP "+token, ""),
		"as Bearer":            w.dpopRequest(t, http.MethodPost, "Bearer "+token, ""),
	} {
		if _, refusal := ng.Check(req, api.AuthorizeRequest{Action: "read", Resource: "repo:x"}); refusal == nil ||
			refusal.Status != http.StatusUnauthorized {
			t.Errorf("%s: %+v, want 401", name, refusal)
		}
	}
}

// TestNetHTTPHandsOutDPoPNonces: behind nethttp, a Guard that requires nonces refuses a
// proof without one with the DPoP challenge use_dpop_nonce and a DPoP-Nonce header, so the
// client can retry with it; the retry is accepted. A bound token sent as Bearer gets a DPoP
// challenge too, not the Bearer one.
func TestNetHTTPHandsOutDPoPNonces(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testserver.Backends[0], nil)
	ng := w.netHTTPGuard(t, mcpauth.Config{DPoPNonces: true, DPoPNonceSecret: []byte("a secret every instance shares")})
	key := oauthtest.NewDPoPKey(t)
	token := w.dpopAccessToken(t, key)
	call := api.AuthorizeRequest{Action: "read", Resource: "repo:x"}
	req := w.dpopRequest(t, http.MethodPost, "DPoP "+token,
		key.Proof(t, oauthtest.DPoPClaims{Method: http.MethodPost, URL: w.resource, AccessToken: token}))
	_, refusal := ng.Check(req, call)
	if refusal == nil || refusal.Status != http.StatusUnauthorized || !strings.HasPrefix(refusal.Challenge, `DPoP error="use_dpop_nonce"`) ||
		refusal.DPoPNonce == "" {
		t.Fatalf("a proof without a nonce: %+v, want 401 use_dpop_nonce with a nonce", refusal)
	}
	rec := httptest.NewRecorder()
	refusal.Write(rec)
	nonce := rec.Header().Get("DPoP-Nonce")
	if nonce != refusal.DPoPNonce || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "DPoP ") {
		t.Fatalf("written refusal headers: %v", rec.Header())
	}
	req = w.dpopRequest(t, http.MethodPost, "DPoP "+token,
		key.Proof(t, oauthtest.DPoPClaims{Method: http.MethodPost, URL: w.resource, AccessToken: token, Nonce: nonce}))
	if _, refusal := ng.Check(req, call); refusal == nil || refusal.Status != http.StatusForbidden {
		t.Fatalf("retried with the nonce: %+v, want the token accepted and the call denied (403)", refusal)
	}
	_, refusal = ng.Check(w.dpopRequest(t, http.MethodPost, "Bearer "+token, ""), call)
	if refusal == nil || !strings.HasPrefix(refusal.Challenge, `DPoP error="invalid_token"`) || refusal.DPoPNonce != "" {
		t.Fatalf("a bound token as Bearer: %+v, want a DPoP invalid_token challenge", refusal)
	}
}

// netHTTPGuard is adapters/nethttp asking Kavach with an app key, with a Guard for this
// world's resource (its DPoP options from dpop) as its AccessTokens verifier.
func (w *world) netHTTPGuard(t *testing.T, dpop mcpauth.Config) *nethttp.Guard {
	t.Helper()
	g, err := mcpauth.New(mcpauth.Config{Resource: w.resource, Server: "files", Issuer: w.as.Issuer, Authorizer: w.as.Kavach,
		DPoPNonces: dpop.DPoPNonces, DPoPNonceSecret: dpop.DPoPNonceSecret})
	if err != nil {
		t.Fatal(err)
	}
	ng, err := nethttp.New(nethttp.Config{Authorizer: w.as.Client(t, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}), AccessTokens: g})
	if err != nil {
		t.Fatal(err)
	}
	return ng
}
