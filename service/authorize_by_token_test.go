package service_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/client"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// tokenWorld is a server with an app key in the default tenant, an agent there whose one
// permission has an IP allowlist, and an agent in another tenant.
type tokenWorld struct {
	srv     *testserver.Server
	appKey  string
	local   *api.AgentWithToken // default tenant: read mcp:db:* from 10.0.0.0/8
	foreign *api.AgentWithToken // tenant acme: read mcp:db:*
}

func newTokenWorld(t *testing.T) *tokenWorld {
	t.Helper()
	srv := testserver.StartWith(t, testserver.Backends[0].New(t), testserver.Options{SyncAudit: true})
	root := kavach.WithActor(context.Background(), api.Root)
	if _, err := srv.Kavach.Tenants().Create(root, api.CreateTenantRequest{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	create := func(tenant string, c *agent.Constraints) *api.AgentWithToken {
		a, err := srv.Kavach.Agents().Create(root, api.CreateAgentRequest{TenantID: tenant, OwnerID: "alice", Name: "n",
			Permissions: []agent.Permission{{Resource: "mcp:db:*", Actions: []string{"read"}, Constraints: c}}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	return &tokenWorld{
		srv:     srv,
		appKey:  srv.Key(t, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}),
		local:   create(agent.DefaultTenant, &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}),
		foreign: create("acme", nil),
	}
}

// decide posts body to POST /v1/authorize under the app key and returns the decision.
func (w *tokenWorld) decide(t *testing.T, body string) api.Decision {
	t.Helper()
	resp := send(t, "POST", w.srv.URL+"/v1/authorize", w.appKey, body)
	var d api.Decision
	if resp.decode(t, &d); resp.status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", body, resp.status, resp.body)
	}
	return d
}

// TestAuthorizeByTokenInBody: an app names the agent by the token it presented, and the
// end client's address it reports in context.ip decides an IP allowlist, as by id.
func TestAuthorizeByTokenInBody(t *testing.T) {
	t.Parallel()
	w := newTokenWorld(t)
	tok := w.local.Token
	for _, c := range []struct {
		name, body string
		want       api.DecisionCode
	}{
		{"inside the allowlist", `{"token":"` + tok + `","action":"read","resource":"mcp:db:users","context":{"ip":"10.1.2.3","userAgent":"curl/8"}}`, api.Allowed},
		{"outside the allowlist", `{"token":"` + tok + `","action":"read","resource":"mcp:db:users","context":{"ip":"192.0.2.7"}}`, api.IPNotAllowed},
		{"no address", `{"token":"` + tok + `","action":"read","resource":"mcp:db:users"}`, api.IPNotAllowed},
		// An escape sends the body through encoding/json rather than the hand decoder.
		{"decoded by encoding/json", `{"token":"` + tok + `","action":"re\u0061d","resource":"mcp:db:users","context":{"ip":"10.9.9.9"}}`, api.Allowed},
		{"a dry run", `{"token":"` + tok + `","action":"read","resource":"mcp:db:users","dryRun":true,"context":{"ip":"10.1.2.3"}}`, api.Allowed},
		{"no permission", `{"token":"` + tok + `","action":"write","resource":"mcp:db:users","context":{"ip":"10.1.2.3"}}`, api.NoPermission},
		{"another tenant's agent", `{"token":"` + w.foreign.Token + `","action":"read","resource":"mcp:db:users"}`, api.TokenInvalid},
		{"a malformed token", `{"token":"kv_nope","action":"read","resource":"mcp:db:users","context":{"ip":"10.1.2.3"}}`, api.TokenInvalid},
		{"an unknown token", `{"token":"` + agent.MintToken() + `","action":"read","resource":"mcp:db:users","context":{"ip":"10.1.2.3"}}`, api.TokenInvalid},
		{"an API key in its place", `{"token":"` + w.appKey + `","action":"read","resource":"mcp:db:users","context":{"ip":"10.1.2.3"}}`, api.TokenInvalid},
	} {
		d := w.decide(t, c.body)
		if d.Code != c.want || d.Allowed != (c.want == api.Allowed) || d.AuditID == "" {
			t.Errorf("%s: got %s (%s) audit %q, want %s", c.name, d.Code, d.Reason, d.AuditID, c.want)
		}
	}

	// The decision is audited as the app's, with the agent the token named and the
	// address the app reported.
	d := w.decide(t, `{"token":"`+tok+`","action":"read","resource":"mcp:db:audited","context":{"ip":"10.4.4.4","userAgent":"agent/1"}}`)
	resp := send(t, "GET", w.srv.URL+"/v1/audit?agentId="+w.local.ID+"&resource=mcp:db:audited", w.srv.RootKey, "")
	var page api.AuditPage
	resp.decode(t, &page)
	if len(page.Events) != 1 {
		t.Fatalf("want one audit event, got %d: %s", len(page.Events), resp.body)
	}
	if ev := page.Events[0]; ev.ID != d.AuditID || ev.IP != "10.4.4.4" || ev.UserAgent != "agent/1" ||
		ev.Actor != "app:"+agent.DefaultTenant || ev.Code != string(api.Allowed) {
		t.Errorf("audit event %+v, want id %s from 10.4.4.4 as the app", ev, d.AuditID)
	}

	// By id, the foreign agent is not found: the token form hides it the same way.
	if d := w.decide(t, `{"agentId":"`+w.foreign.ID+`","action":"read","resource":"mcp:db:users"}`); d.Code != api.AgentNotFound {
		t.Errorf("another tenant's agent by id: %s", d.Code)
	}
}

// TestAuthorizeByTokenRefusals: exactly one of agentId and token names the agent; a body
// with both or neither is a 400 naming the field. A token over the length of any real one
// is not bad input but a bad credential: the decision TOKEN_INVALID, so that an adapter
// answers it with 401 as it answers every other token that is not valid.
func TestAuthorizeByTokenRefusals(t *testing.T) {
	t.Parallel()
	w := newTokenWorld(t)
	for _, c := range []struct {
		name, body, field, detail string
	}{
		{"both", `{"agentId":"` + w.local.ID + `","token":"` + w.local.Token + `","action":"read","resource":"mcp:db:x"}`, "token", "not both"},
		{"both, by encoding/json", `{"agentId":"` + w.local.ID + `","token":"` + w.local.Token + `","action":"re\u0061d","resource":"mcp:db:x"}`, "token", "not both"},
		{"neither", `{"action":"read","resource":"mcp:db:x"}`, "agentId", "(token)"},
		{"neither, empty strings", `{"agentId":"","token":"","action":"read","resource":"mcp:db:x"}`, "agentId", "(token)"},
	} {
		resp := send(t, "POST", w.srv.URL+"/v1/authorize", w.appKey, c.body)
		if resp.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", c.name, resp.status, resp.body)
			continue
		}
		if p := resp.problem(t); p.Field != c.field || p.Code != api.CodeInvalidInput || !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%s: field %q detail %q, want field %q saying %q", c.name, p.Field, p.Detail, c.field, c.detail)
		}
	}
	long := `{"token":"kv_` + strings.Repeat("a", 4*agent.MaxTokenLen) + `","action":"read","resource":"mcp:db:x"}`
	resp := send(t, "POST", w.srv.URL+"/v1/authorize", w.appKey, long)
	if resp.status != http.StatusOK || !strings.Contains(string(resp.body), `"code":"TOKEN_INVALID"`) {
		t.Errorf("an overlong token: %d %s, want the decision TOKEN_INVALID", resp.status, resp.body)
	}
}

// TestClientAuthorizeTokenCarriesTheClientAddress: the Go client with an API key asks about
// a token's agent with the end client's address it is given; without a key it presents
// the token itself, and the address is the connection's whatever it is given.
func TestClientAuthorizeTokenCarriesTheClientAddress(t *testing.T) {
	t.Parallel()
	w := newTokenWorld(t)
	ctx := context.Background()
	read := api.AuthorizeRequest{Action: "read", Resource: "mcp:db:users"}
	app, err := client.New(w.srv.URL, w.appKey)
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]api.DecisionCode{"10.1.2.3": api.Allowed, "192.0.2.7": api.IPNotAllowed} {
		d, err := app.AuthorizeToken(ctx, w.local.Token, read, api.CallContext{IP: ip})
		if err != nil || d.Code != want {
			t.Errorf("with an app key from %s: %+v %v, want %s", ip, d, err, want)
		}
	}
	if d, err := app.AuthorizeToken(ctx, w.foreign.Token, read, api.CallContext{IP: "10.1.2.3"}); err != nil || d.Code != api.TokenInvalid {
		t.Errorf("another tenant's agent under an app key: %+v %v", d, err)
	}
	if d, err := app.AuthorizeToken(ctx, "", read, api.CallContext{IP: "10.1.2.3"}); err != nil || d.Code != api.TokenInvalid {
		t.Errorf("no token under an app key: %+v %v", d, err)
	}

	keyless, err := client.New(w.srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := keyless.AuthorizeToken(ctx, w.local.Token, read, api.CallContext{IP: "10.1.2.3"}); err != nil || d.Code != api.IPNotAllowed {
		t.Errorf("an agent cannot claim an address: %+v %v", d, err)
	}
	if d, err := keyless.AuthorizeToken(ctx, w.foreign.Token, read, api.CallContext{}); err != nil || !d.Allowed {
		t.Errorf("an agent's own token, in its own tenant: %+v %v", d, err)
	}
}
