package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kavachos/kavach-go/adapters/mcpgateway"
	"github.com/kavachos/kavach-go/internal/dpop"
	"github.com/kavachos/kavach-go/internal/oauthtest"
)

// dpopAccessToken runs the OAuth flow for the gateway's resource with a DPoP proof at the
// token endpoint and returns an access token bound to key.
func (w *gatewayWorld) dpopAccessToken(t *testing.T, key *oauthtest.DPoPKey) string {
	t.Helper()
	var meta, reg map[string]any
	oauthtest.GetJSON(t, w.as.URL+"/.well-known/oauth-authorization-server/oauth", &meta)
	oauthtest.PostJSON(t, meta["registration_endpoint"].(string), "", map[string]any{
		"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "token_endpoint_auth_method": "none", "client_name": "DPoP client",
	}, &reg)
	clientID, tokenURL := reg["client_id"].(string), meta["token_endpoint"].(string)
	pk := oauthtest.NewPKCE()
	resp := oauthtest.Authorize(t, meta["authorization_endpoint"].(string), url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "scope": {"mcp"},
		"code_challenge": {pk.Challenge}, "code_challenge_method": {"S256"}, "resource": {w.resource}, "state": {"s"},
	})
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	status, tok := oauthtest.PostFormDPoP(t, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {"http://127.0.0.1:9/cb"}, "code_verifier": {pk.Verifier}, "client_id": {clientID}, "resource": {w.resource}},
		"", "", key.Proof(t, oauthtest.DPoPClaims{Method: http.MethodPost, URL: tokenURL}))
	at, _ := tok["access_token"].(string)
	if status != http.StatusOK || tok["token_type"] != "DPoP" || at == "" {
		t.Fatalf("no DPoP-bound access token: %d %v", status, tok)
	}
	return at
}

// dpopTransport sends a DPoP-bound token with a fresh proof of each request, as a DPoP
// client does: with the last nonce the server handed out, and once more with the new one
// when the server answers use_dpop_nonce.
type dpopTransport struct {
	t     *testing.T
	key   *oauthtest.DPoPKey
	token string

	mu      sync.Mutex
	nonce   string
	retries int // requests sent again with a new nonce
}

func (d *dpopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.send(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) || (r.Body != nil && r.GetBody == nil) {
		return resp, err
	}
	resp.Body.Close()
	d.mu.Lock()
	d.retries++
	d.mu.Unlock()
	r = r.Clone(r.Context())
	if r.GetBody != nil {
		if r.Body, err = r.GetBody(); err != nil {
			return nil, err
		}
	}
	return d.send(r)
}

func (d *dpopTransport) send(r *http.Request) (*http.Response, error) {
	d.mu.Lock()
	nonce := d.nonce
	d.mu.Unlock()
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "DPoP "+d.token)
	r.Header.Set("DPoP", d.key.Proof(d.t, oauthtest.DPoPClaims{Method: r.Method, URL: r.URL.String(), AccessToken: d.token, Nonce: nonce}))
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && resp.Header.Get("DPoP-Nonce") != "" {
		d.mu.Lock()
		d.nonce = resp.Header.Get("DPoP-Nonce")
		d.mu.Unlock()
	}
	return resp, err
}

// TestGatewayChecksDPoP: a DPoP-bound access token goes through the gateway with a fresh
// proof of each request (the SDK's session: tools/list, tools/call); without a proof, or
// as Bearer, it is refused with a DPoP challenge before the upstream, which never sees
// the token, the DPoP header or a proof.
func TestGatewayChecksDPoP(t *testing.T) {
	t.Parallel()
	w := newGatewayWorld(t, false)
	key := oauthtest.NewDPoPKey(t)
	token := w.dpopAccessToken(t, key)

	s, err := mcp.NewClient(&mcp.Implementation{Name: "gateway-dpop", Version: "1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: w.resource, HTTPClient: &http.Client{Transport: &dpopTransport{t: t, key: key, token: token}}}, nil)
	if err != nil {
		t.Fatalf("connecting through the gateway with DPoP: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if got := toolNames(t, s); !slices.Equal(got, []string{"add", "delete_file", "echo"}) {
		t.Fatalf("tools/list: %v", got)
	}
	if got := callText(t, s, "echo", map[string]any{"text": "bound"}); got != "bound" {
		t.Fatalf("echo: %q", got)
	}

	w.mu.Lock()
	before := len(w.seen)
	w.mu.Unlock()
	proof := func() string {
		return key.Proof(t, oauthtest.DPoPClaims{Method: http.MethodPost, URL: w.resource, AccessToken: token})
	}
	for _, tc := range []struct {
		name, authorization, proof, code string
	}{
		{"DPoP without a proof", "DPoP " + token, "", "invalid_dpop_proof"},
		{"as Bearer with a proof", "Bearer " + token, proof(), "invalid_token"},
		{"as Bearer", "Bearer " + token, "", "invalid_token"},
		{"a proof of another key", "DPoP " + token,
			oauthtest.NewDPoPKey(t).Proof(t, oauthtest.DPoPClaims{Method: http.MethodPost, URL: w.resource, AccessToken: token}), "invalid_dpop_proof"},
	} {
		req, _ := http.NewRequest(http.MethodPost, w.resource, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", tc.authorization)
		if tc.proof != "" {
			req.Header.Set("DPoP", tc.proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		challenge := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, "DPoP ") || !strings.Contains(challenge, `error="`+tc.code+`"`) {
			t.Errorf("%s: %d %q, want 401 with a DPoP challenge, error %s", tc.name, resp.StatusCode, challenge, tc.code)
		}
	}
	w.mu.Lock()
	if len(w.seen) != before {
		t.Error("a refused request reached the upstream")
	}
	for _, h := range w.seen {
		if v := h.Values("DPoP"); len(v) > 0 {
			t.Errorf("the upstream saw a DPoP header: %q", v)
		}
	}
	w.mu.Unlock()
	w.upstreamSaw(t, token)
}

// TestGatewayDPoPNonces: a gateway configured with DPoPNonces refuses a proof without a
// nonce, or with a stale one, with 401 use_dpop_nonce and DPoP-Nonce; a client that
// retries with the nonce it was handed goes through, and answers keep handing out nonces.
func TestGatewayDPoPNonces(t *testing.T) {
	t.Parallel()
	secret := []byte("the gateways' shared secret")
	w := newGatewayWorldWith(t, false, func(c *mcpgateway.Config) { c.DPoPNonces, c.DPoPNonceSecret = true, secret })
	key := oauthtest.NewDPoPKey(t)
	token := w.dpopAccessToken(t, key)

	for name, nonce := range map[string]string{"no nonce": "", "a stale nonce": dpop.Nonce(secret, time.Now().Add(-2*dpop.NoncePeriod))} {
		req, _ := http.NewRequest(http.MethodPost, w.resource, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "DPoP "+token)
		req.Header.Set("DPoP", key.Proof(t, oauthtest.DPoPClaims{Method: http.MethodPost, URL: w.resource, AccessToken: token, Nonce: nonce}))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) ||
			resp.Header.Get("DPoP-Nonce") == "" {
			t.Fatalf("%s: %d %v, want 401 use_dpop_nonce with DPoP-Nonce", name, resp.StatusCode, resp.Header)
		}
	}
	w.mu.Lock()
	if len(w.seen) != 0 {
		t.Fatal("a proof without a current nonce reached the upstream")
	}
	w.mu.Unlock()

	transport := &dpopTransport{t: t, key: key, token: token}
	s, err := mcp.NewClient(&mcp.Implementation{Name: "gateway-dpop-nonce", Version: "1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: w.resource, HTTPClient: &http.Client{Transport: transport}}, nil)
	if err != nil {
		t.Fatalf("connecting through the gateway with DPoP nonces: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if got := callText(t, s, "echo", map[string]any{"text": "with a nonce"}); got != "with a nonce" {
		t.Fatalf("echo: %q", got)
	}
	transport.mu.Lock()
	defer transport.mu.Unlock()
	if transport.retries < 1 || transport.nonce == "" {
		t.Fatalf("the client was never asked for a nonce (%d retries, nonce %q)", transport.retries, transport.nonce)
	}
	w.upstreamSaw(t, token)
}
