package oidc_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/spantest"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// TestOAuthEndpointsAreTraced: each hop of the authorization code flow is a server span
// named by the endpoint it reached, and none carries the code, the verifier, the state or
// the tokens (the query string and the form stay out of spans).
func TestOAuthEndpointsAreTraced(t *testing.T) {
	exp := spantest.Record(t)

	e := start(t, testserver.Backends[0], devConfig())
	c := e.register(t, nil)
	pk := oauthtest.NewPKCE()
	code := e.code(t, authParams(c.ID, pk))
	status, tok := e.token(t, c, exchange(code, pk))
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	access, _ := tok["access_token"].(string)

	seen := map[string]int{}
	for _, s := range exp.GetSpans() {
		for _, a := range s.Attributes {
			if a.Key == "http.response.status_code" {
				seen[s.Name] = int(a.Value.AsInt64())
			}
		}
		b, _ := json.Marshal(s.Attributes)
		for _, secret := range []string{code, pk.Verifier, access, "st-1"} {
			if secret != "" && strings.Contains(string(b)+s.Name, secret) {
				t.Errorf("span %s carries a secret: %s", s.Name, b)
			}
		}
	}
	for name, want := range map[string]int{
		"GET /.well-known/oauth-authorization-server/oauth": http.StatusOK,
		"POST /oauth/register":                              http.StatusCreated,
		"POST /oauth/token":                                 http.StatusOK,
	} {
		if got, ok := seen[name]; !ok || got != want {
			t.Errorf("span %q: status %d (seen %v), want %d", name, got, ok, want)
		}
	}
	authorize := false
	for name := range seen {
		authorize = authorize || strings.HasPrefix(name, "GET /oauth/authorize")
	}
	if !authorize {
		t.Errorf("no span of the authorization endpoint among %v", seen)
	}
}
