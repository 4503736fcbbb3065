package oidc_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/oidc"
)

// TestRegistration: RFC 7591 registration answers 201 with the registered metadata and a
// secret only for confidential clients, and refuses bad metadata with the RFC's errors.
func TestRegistration(t *testing.T) {
	t.Parallel()
	e := start(t, testserver.Backends[0], devConfig())
	reg := e.endpoint("registration_endpoint")
	var out map[string]any
	if code := oauthtest.PostJSON(t, reg, "", map[string]any{"redirect_uris": []string{"https://app.example.com/cb"},
		"client_name": "web app"}, &out); code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, out)
	}
	if out["token_endpoint_auth_method"] != "client_secret_basic" || !strings.HasPrefix(out["client_secret"].(string), "kvs_") ||
		out["client_secret_expires_at"] != float64(0) || out["client_name"] != "web app" || out["client_id_issued_at"] == nil {
		t.Fatalf("confidential registration answer %v", out)
	}
	out = nil
	oauthtest.PostJSON(t, reg, "", map[string]any{"redirect_uris": []string{"http://localhost:3000/cb"}, "token_endpoint_auth_method": "none"}, &out)
	if _, secret := out["client_secret"]; secret || out["client_id"] == "" {
		t.Fatalf("a public client gets no secret: %v", out)
	}
	// A client that only exchanges tokens is answered with arrays, and with no response
	// type: it never uses the authorization endpoint (RFC 7591 sections 2 and 2.1).
	out = nil
	oauthtest.PostJSON(t, reg, "", map[string]any{"grant_types": []string{grantExchange}, "token_endpoint_auth_method": "none"}, &out)
	if uris, ok := out["redirect_uris"].([]any); !ok || len(uris) != 0 {
		t.Fatalf("redirect_uris of a token-exchange client: %v", out)
	}
	if types, ok := out["response_types"].([]any); !ok || len(types) != 0 {
		t.Fatalf("response_types of a token-exchange client: %v", out)
	}

	for _, tc := range []struct {
		name  string
		meta  map[string]any
		error string
	}{
		{"no redirect URIs", map[string]any{"client_name": "x"}, "invalid_redirect_uri"},
		{"http on a public host", map[string]any{"redirect_uris": []string{"http://app.example.com/cb"}}, "invalid_redirect_uri"},
		{"fragment", map[string]any{"redirect_uris": []string{"https://app.example.com/cb#frag"}}, "invalid_redirect_uri"},
		{"custom scheme", map[string]any{"redirect_uris": []string{"myapp://cb"}}, "invalid_redirect_uri"},
		{"relative", map[string]any{"redirect_uris": []string{"/cb"}}, "invalid_redirect_uri"},
		{"implicit grant", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "grant_types": []string{"implicit"}}, "invalid_client_metadata"},
		{"token response", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "response_types": []string{"token"}}, "invalid_client_metadata"},
		{"code response without the code grant", map[string]any{"grant_types": []string{grantExchange}, "response_types": []string{"code"}}, "invalid_client_metadata"},
		{"private_key_jwt", map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"},
		{"not an object", nil, "invalid_client_metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any = tc.meta
			if tc.meta == nil {
				body = []string{"not", "an", "object"}
			}
			var out map[string]any
			if code := oauthtest.PostJSON(t, reg, "", body, &out); code != http.StatusBadRequest || out["error"] != tc.error {
				t.Fatalf("got %d %v, want 400 %s", code, out, tc.error)
			}
		})
	}
}

// TestRegistrationModes: registration can require an initial access token, or be closed
// (and then not advertised).
func TestRegistrationModes(t *testing.T) {
	t.Parallel()
	meta := map[string]any{"redirect_uris": []string{redirectURI}, "token_endpoint_auth_method": "none"}
	cfg := devConfig()
	cfg.Registration, cfg.InitialAccessTokens = oidc.RegistrationToken, []string{"iat-secret"}
	e := start(t, testserver.Backends[0], cfg)
	for _, tc := range []struct {
		bearer string
		want   int
	}{{"", http.StatusUnauthorized}, {"wrong", http.StatusUnauthorized}, {"iat-secret", http.StatusCreated}} {
		if code := oauthtest.PostJSON(t, e.endpoint("registration_endpoint"), tc.bearer, meta, nil); code != tc.want {
			t.Errorf("token mode with bearer %q: %d, want %d", tc.bearer, code, tc.want)
		}
	}
	cfg.Registration = oidc.RegistrationClosed
	closed := start(t, testserver.Backends[0], cfg)
	if _, ok := closed.meta["registration_endpoint"]; ok {
		t.Error("a closed server advertises no registration endpoint")
	}
	if code := oauthtest.PostJSON(t, closed.Issuer+"/register", "", meta, nil); code != http.StatusForbidden {
		t.Errorf("closed registration: %d, want 403", code)
	}
}

// documentServer serves a client ID metadata document on loopback and counts requests.
func documentServer(t *testing.T, doc func(id string) map[string]any) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	var id string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		_ = json.NewEncoder(w).Encode(doc(id))
	}))
	t.Cleanup(srv.Close)
	id = srv.URL + "/client.json"
	return id, &hits
}

func goodDocument(id string) map[string]any {
	return map[string]any{"client_id": id, "client_name": "Doc Client", "redirect_uris": []string{redirectURI},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none"}
}

// TestMetadataDocumentClient: a client whose id is the URL of its metadata document (served
// on loopback, which this configuration explicitly allows) runs the whole flow; the
// document is fetched once and cached.
func TestMetadataDocumentClient(t *testing.T) {
	t.Parallel()
	cfg := devConfig()
	cfg.AllowLoopbackMetadata = true
	e := start(t, testserver.Backends[0], cfg)
	id, hits := documentServer(t, goodDocument)
	pk := oauthtest.NewPKCE()
	code := e.code(t, authParams(id, pk))
	status, tok := e.token(t, registration{ID: id}, exchange(code, pk))
	if status != http.StatusOK || claims(t, tok["access_token"].(string))["client_id"] != id {
		t.Fatalf("token for a metadata document client: %d %v", status, tok)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the document was fetched %d times, want once (cached)", n)
	}
}

// TestMetadataDocumentRefusals: documents that would make the server reach internal
// addresses are never fetched, and invalid documents are refused; either way the user agent
// is not redirected.
func TestMetadataDocumentRefusals(t *testing.T) {
	t.Parallel()
	strict := start(t, testserver.Backends[0], devConfig()) // loopback not allowed
	lenient := func() *env {
		cfg := devConfig()
		cfg.AllowLoopbackMetadata = true
		return start(t, testserver.Backends[0], cfg)
	}()
	loopbackID, loopbackHits := documentServer(t, goodDocument)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimSuffix(loopbackID, "/client.json"), "http://"))
	mismatchID, _ := documentServer(t, func(id string) map[string]any {
		d := goodDocument(id)
		d["client_id"] = "https://other.example/c.json"
		return d
	})
	secretID, _ := documentServer(t, func(id string) map[string]any { d := goodDocument(id); d["client_secret"] = "s"; return d })
	noNameID, _ := documentServer(t, func(id string) map[string]any { d := goodDocument(id); delete(d, "client_name"); return d })
	badRedirectID, _ := documentServer(t, func(id string) map[string]any {
		d := goodDocument(id)
		d["redirect_uris"] = []string{"http://evil.example.com/cb"}
		return d
	})
	bigID, _ := documentServer(t, func(id string) map[string]any {
		d := goodDocument(id)
		d["client_uri"] = "https://x.example/" + strings.Repeat("a", 9000)
		return d
	})
	for _, tc := range []struct {
		name string
		e    *env
		id   string
	}{
		{"private address", strict, "https://10.0.0.7/client.json"},
		{"link-local metadata service", strict, "https://169.254.169.254/latest/client.json"},
		{"IPv6 unique local", strict, "https://[fd00::1]/client.json"},
		{"IPv4-mapped private", strict, "https://[::ffff:192.168.1.1]/client.json"},
		{"loopback not allowed", strict, "https://127.0.0.1:" + port + "/client.json"},
		{"localhost not allowed", strict, "https://localhost:" + port + "/client.json"},
		{"plain http elsewhere", lenient, "http://mcp-client.example.com/client.json"},
		{"no path", lenient, "https://mcp-client.example.com"},
		{"dot segments", lenient, "https://mcp-client.example.com/a/../client.json"},
		{"client_id mismatch", lenient, mismatchID},
		{"client secret in the document", lenient, secretID},
		{"no client_name", lenient, noNameID},
		{"redirect URI not https or loopback", lenient, badRedirectID},
		{"too large", lenient, bigID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := oauthtest.Authorize(t, tc.e.endpoint("authorization_endpoint"), authParams(tc.id, oauthtest.NewPKCE()))
			if loc := resp.Header.Get("Location"); loc != "" || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("got %d to %q; want 400 and no redirect", resp.StatusCode, loc)
			}
		})
	}
	if n := loopbackHits.Load(); n != 0 {
		t.Errorf("the loopback document server was reached %d times by a server that does not allow loopback", n)
	}
	var out map[string]any
	status := oauthtest.PostForm(t, strict.endpoint("token_endpoint"), url.Values{"grant_type": {"authorization_code"},
		"client_id": {"https://10.0.0.7/client.json"}, "code": {"x"}, "redirect_uri": {redirectURI}}, "", "", &out).StatusCode
	wantOAuthError(t, "token endpoint with a private document URL", status, out, 400, "invalid_client")
}
