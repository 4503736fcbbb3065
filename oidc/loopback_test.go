package oidc_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// freeLoopbackPort holds a random loopback port for the test, as a native client's
// callback listener would.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestLoopbackRedirectAnyPort: a loopback http redirect URI registered without a port
// accepts any port (OAuth 2.1 section 8.4.2, RFC 8252 section 7.3), so a client ID
// metadata document listing http://127.0.0.1/callback serves a client listening on a random
// port through the whole flow. Scheme, host, path and query still match exactly, a URI
// registered with a port keeps it, and the token request must repeat the authorization
// request's redirect URI, port included.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	t.Parallel()
	cfg := devConfig()
	cfg.AllowLoopbackMetadata = true
	e := start(t, testserver.Backends[0], cfg)
	id, _ := documentServer(t, func(id string) map[string]any {
		d := goodDocument(id)
		d["redirect_uris"] = []string{"http://127.0.0.1/callback", "http://[::1]/callback", "http://localhost/cb?app=1",
			"http://localhost:8123/fixed", "https://127.0.0.1:8443/tls"}
		return d
	})
	port := freeLoopbackPort(t)
	authorize := func(redirect string) *http.Response {
		params := authParams(id, oauthtest.NewPKCE())
		params.Set("redirect_uri", redirect)
		return oauthtest.Authorize(t, e.endpoint("authorization_endpoint"), params)
	}

	t.Run("full flow on a random port", func(t *testing.T) {
		redirect := "http://127.0.0.1:" + port + "/callback"
		code, pk := e.codeAt(t, id, redirect)
		form := exchange(code, pk)
		form.Set("redirect_uri", redirect)
		status, tok := e.token(t, registration{ID: id}, form)
		if status != http.StatusOK || claims(t, tok["access_token"].(string))["client_id"] != id {
			t.Fatalf("token: %d %v", status, tok)
		}
		for _, other := range []string{"http://127.0.0.1/callback", "http://127.0.0.1:1/callback"} {
			code, pk := e.codeAt(t, id, redirect)
			form := exchange(code, pk)
			form.Set("redirect_uri", other)
			status, body := e.token(t, registration{ID: id}, form)
			wantOAuthError(t, "token request with "+other, status, body, 400, "invalid_grant")
		}
	})

	for _, redirect := range []string{
		"http://[::1]:" + port + "/callback",
		"http://localhost:" + port + "/cb?app=1",
		"http://127.0.0.1/callback",
		"http://localhost:8123/fixed",
		"https://127.0.0.1:8443/tls",
	} {
		t.Run("accepts "+redirect, func(t *testing.T) {
			resp := authorize(redirect)
			if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, redirect) {
				t.Fatalf("got %d to %q, want a redirect to %s", resp.StatusCode, loc, redirect)
			}
		})
	}
	for _, redirect := range []string{
		"http://127.0.0.1:" + port + "/other",                 // another path
		"http://127.0.0.1:" + port + "/callback/",             // a longer path
		"http://127.0.0.1:" + port + "/callback?x=1",          // a query
		"http://localhost:" + port + "/callback",              // localhost is not 127.0.0.1
		"http://127.0.0.2:" + port + "/callback",              // another loopback address
		"http://localhost:" + port + "/cb?app=2",              // another query
		"https://127.0.0.1:" + port + "/callback",             // another scheme
		"http://127.0.0.1:/callback",                          // an empty port
		"http://127.0.0.1:0/callback",                         // port zero
		"http://127.0.0.1:070/callback",                       // a port spelled with a leading zero
		"http://127.0.0.1:99999/callback",                     // not a port
		"http://127.0.0.1:" + port + "@evil.example/callback", // credentials, another host
		"http://localhost:8124/fixed",                         // registered with a port
		"https://127.0.0.1:9443/tls",                          // https registered with a port
		"https://127.0.0.1/tls",                               // https without the port
	} {
		t.Run("refuses "+redirect, func(t *testing.T) {
			resp := authorize(redirect)
			if loc := resp.Header.Get("Location"); loc != "" || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("got %d to %q; want 400 and no redirect", resp.StatusCode, loc)
			}
		})
	}

	t.Run("registered client", func(t *testing.T) {
		c := e.register(t, map[string]any{"redirect_uris": []string{"http://127.0.0.1/callback"}})
		redirect := "http://127.0.0.1:" + port + "/callback"
		code, pk := e.codeAt(t, c.ID, redirect)
		form := exchange(code, pk)
		form.Set("redirect_uri", redirect)
		if status, tok := e.token(t, c, form); status != http.StatusOK {
			t.Fatalf("token: %d %v", status, tok)
		}
	})
}

// codeAt runs an authorization request for clientID with redirect and returns the code.
func (e *env) codeAt(t *testing.T, clientID, redirect string) (string, oauthtest.PKCE) {
	t.Helper()
	pk := oauthtest.NewPKCE()
	params := authParams(clientID, pk)
	params.Set("redirect_uri", redirect)
	resp := oauthtest.Authorize(t, e.endpoint("authorization_endpoint"), params)
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), redirect) || loc.Query().Get("code") == "" {
		t.Fatalf("want a code at %s, got %d %v", redirect, resp.StatusCode, loc)
	}
	return loc.Query().Get("code"), pk
}
