package oidc_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// TestApplicationType: application_type decides which redirect URIs a client may register
// (OpenID Connect Registration 1.0, as the MCP 2026-07-28 revision asks clients to send
// it): a native client only ones on localhost or a loopback address, a web client only
// https ones on another host. Without it, the type follows from the redirect URIs, and a client that mixes both
// kinds registers as before.
func TestApplicationType(t *testing.T) {
	t.Parallel()
	cfg := devConfig()
	cfg.AllowLoopbackMetadata = true
	e := start(t, testserver.Backends[0], cfg)
	for _, tc := range []struct {
		name     string
		appType  string
		uris     []string
		wantType string // the registered type; "" for a refusal when error is set
		error    string
	}{
		{"native on loopback", "native", []string{"http://127.0.0.1/cb", "http://localhost:8080/cb", "http://[::1]/cb"}, "native", ""},
		{"native with https", "native", []string{"http://127.0.0.1/cb", "https://app.example.com/cb"}, "", "invalid_redirect_uri"},
		{"native with https on localhost", "native", []string{"https://localhost:8443/cb"}, "native", ""},
		{"web on https", "web", []string{"https://app.example.com/cb"}, "web", ""},
		{"web on loopback", "web", []string{"http://127.0.0.1/cb"}, "", "invalid_redirect_uri"},
		{"web with https on localhost", "web", []string{"https://localhost:8443/cb"}, "", "invalid_redirect_uri"},
		{"web with https on a loopback address", "web", []string{"https://127.0.0.1:8443/cb"}, "", "invalid_redirect_uri"},
		{"unknown type", "desktop", []string{"http://127.0.0.1/cb"}, "", "invalid_client_metadata"},
		{"omitted, loopback only", "", []string{"http://127.0.0.1/cb"}, "native", ""},
		{"omitted, https only", "", []string{"https://app.example.com/cb"}, "web", ""},
		{"omitted, both kinds", "", []string{"http://127.0.0.1/cb", "https://app.example.com/cb"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := map[string]any{"redirect_uris": tc.uris, "token_endpoint_auth_method": "none", "client_name": "x"}
			if tc.appType != "" {
				meta["application_type"] = tc.appType
			}
			var out map[string]any
			code := oauthtest.PostJSON(t, e.endpoint("registration_endpoint"), "", meta, &out)
			if tc.error != "" {
				if code != http.StatusBadRequest || out["error"] != tc.error || !strings.Contains(out["error_description"].(string), "application_type") {
					t.Fatalf("got %d %v, want 400 %s naming application_type", code, out, tc.error)
				}
				return
			}
			got, _ := out["application_type"].(string)
			if code != http.StatusCreated || got != tc.wantType {
				t.Fatalf("got %d %v, want 201 with application_type %q", code, out, tc.wantType)
			}
		})
	}

	t.Run("metadata documents", func(t *testing.T) {
		doc := func(appType string, uris ...string) string {
			id, _ := documentServer(t, func(id string) map[string]any {
				d := goodDocument(id)
				d["application_type"], d["redirect_uris"] = appType, uris
				return d
			})
			return id
		}
		port := freeLoopbackPort(t)
		native := doc("native", "http://127.0.0.1/callback")
		code, pk := e.codeAt(t, native, "http://127.0.0.1:"+port+"/callback")
		form := exchange(code, pk)
		form.Set("redirect_uri", "http://127.0.0.1:"+port+"/callback")
		if status, tok := e.token(t, registration{ID: native}, form); status != http.StatusOK {
			t.Fatalf("native document: %d %v", status, tok)
		}
		for _, id := range []string{doc("web", "http://127.0.0.1/callback"), doc("native", "https://app.example.com/cb")} {
			params := authParams(id, oauthtest.NewPKCE())
			params.Set("redirect_uri", "http://127.0.0.1/callback")
			resp := oauthtest.Authorize(t, e.endpoint("authorization_endpoint"), params)
			if loc := resp.Header.Get("Location"); loc != "" || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("a document whose redirect URIs break its application_type: %d to %q, want 400", resp.StatusCode, loc)
			}
		}
	})
}
