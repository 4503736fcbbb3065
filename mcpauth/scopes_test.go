package mcpauth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/mcpauth"
	"github.com/kavachos/kavach-go/oidc"
)

// TestInsufficientScopeNamesEveryScope: a token lacking two of the three scopes the server
// needs gets one 403 whose challenge names all three in scope, so that the client asks for
// them in one step-up, and whose description names both missing ones.
func TestInsufficientScopeNamesEveryScope(t *testing.T) {
	t.Parallel()
	call := oidc.PermissionTemplate{Resource: "mcp:{server}:*", Actions: []string{"call"}}
	w := newWorldWith(t, testserver.Backends[0], func(c *oidc.Config) {
		c.ScopePermissions = map[string]oidc.PermissionTemplate{"files:read": call, "files:write": call, "files:admin": call}
	}, func(c *mcpauth.Config) { c.Scopes = []string{"files:read", "files:write", "files:admin"} })
	token := w.accessToken(t, w.resource, "files:read")
	resp, body := w.call(t, token, toolCall("read", nil))
	challenge := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusForbidden || strings.Count(challenge, "Bearer ") != 1 ||
		!strings.Contains(challenge, `scope="files:read files:write files:admin"`) ||
		!strings.Contains(challenge, `error="insufficient_scope"`) ||
		!strings.Contains(challenge, `error_description="the token lacks scopes files:write, files:admin"`) {
		t.Fatalf("got %d %q %s", resp.StatusCode, challenge, body)
	}
	if !strings.Contains(string(body), "the token lacks scopes files:write, files:admin") {
		t.Fatalf("body %s", body)
	}
	g, err := mcpauth.New(mcpauth.Config{Resource: w.resource, Server: "files", Issuer: w.as.Issuer,
		Scopes: []string{"files:read", "files:write", "files:admin"}, Authorizer: w.as.Client(t, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.VerifyAccessToken(t.Context(), token); err == nil || err.Error() != "the token lacks scopes files:write, files:admin" {
		t.Fatalf("VerifyAccessToken: %v", err)
	}
	if len(w.seen) != 0 {
		t.Fatal("a refused request reached the MCP server")
	}
}
