package service_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// world is a server with two tenants, callers of every role and objects owned by alice.
type world struct {
	srv      *testserver.Server
	keys     map[string]string // caller → API key
	keyIDs   map[string]string // caller → API key id
	agentA   *api.AgentWithToken
	agentA2  *api.AgentWithToken
	agentB   *api.AgentWithToken
	delegA   *agent.Delegation
	approval string
}

func newWorld(t *testing.T, database string) *world {
	t.Helper()
	srv := testserver.Start(t, database, service.Config{})
	w := &world{srv: srv, keys: map[string]string{"root": srv.RootKey}, keyIDs: map[string]string{}}
	k := srv.Kavach
	rootCtx := kavach.WithActor(context.Background(), api.Root)
	if _, err := k.Tenants().Create(rootCtx, api.CreateTenantRequest{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	callers := map[string]api.CreateAPIKeyRequest{
		"alice":     {Role: api.RoleUser, OwnerID: "alice"},
		"bob":       {Role: api.RoleUser, OwnerID: "bob"},
		"admin":     {Role: api.RoleAdmin},
		"acmeAdmin": {Role: api.RoleAdmin, TenantID: "acme"},
		"app":       {Role: api.RoleApp},
		"revoked":   {Role: api.RoleAdmin},
	}
	for name, req := range callers {
		key, err := k.APIKeys().Create(rootCtx, req)
		if err != nil {
			t.Fatal(err)
		}
		w.keys[name], w.keyIDs[name] = key.Key, key.ID
	}
	if _, err := k.APIKeys().Revoke(rootCtx, w.keyIDs["revoked"]); err != nil {
		t.Fatal(err)
	}
	aliceCtx := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "alice"})
	bobCtx := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "bob"})
	create := func(ctx context.Context, ps []agent.Permission) *api.AgentWithToken {
		a, err := k.Agents().Create(ctx, api.CreateAgentRequest{Name: "n", Permissions: ps})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	w.agentA = create(aliceCtx, []agent.Permission{
		{Resource: "mcp:github:*", Actions: []string{"read"}},
		{Resource: "deploy:prod", Actions: []string{"run"}, Constraints: &agent.Constraints{Approval: &agent.Approval{Required: true}}},
	})
	w.agentA2 = create(aliceCtx, nil)
	w.agentB = create(bobCtx, []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}})
	var err error
	w.delegA, err = k.Delegations().Delegate(aliceCtx, api.DelegateRequest{FromAgentID: w.agentA.ID, ToAgentID: w.agentA2.ID,
		Permissions: []agent.Permission{{Resource: "mcp:github:repos", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := k.Authorize(aliceCtx, w.agentA.ID, api.AuthorizeRequest{Action: "run", Resource: "deploy:prod"}, api.CallContext{})
	if err != nil || d.ApprovalID == "" {
		t.Fatalf("no approval request: %+v %v", d, err)
	}
	w.approval = d.ApprovalID
	return w
}

func (w *world) url(path string) string { return w.srv.URL + path }

// TestEveryProtectedRouteRefusesBadKeys: no key, a garbage key, a revoked key and an agent
// token in place of a key all get 401 problem+json on every route behind API keys.
func TestEveryProtectedRouteRefusesBadKeys(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testserver.Backends[0].New(t))
	open := map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/v1/authorize/token": true,
		// AuthZEN: public metadata, and evaluations that also take the subject agent's own
		// token (TestAuthZENRequestErrors and TestAuthZENSearchAction check their 401s).
		"/.well-known/authzen-configuration": true, "/access/v1/evaluation": true, "/access/v1/evaluations": true,
		"/access/v1/search/action": true, "/access/v1/search/resource": true, "/access/v1/search/subject": true,
		// A tenant's AuthZEN PDP: the same routes under /tenants/{tenant} (TestAuthZENTenantPDP).
		"/.well-known/authzen-configuration/tenants/{tenant}": true, "/tenants/{tenant}/access/v1/evaluation": true,
		"/tenants/{tenant}/access/v1/evaluations": true, "/tenants/{tenant}/access/v1/search/action": true,
		"/tenants/{tenant}/access/v1/search/resource": true, "/tenants/{tenant}/access/v1/search/subject": true}
	bad := map[string]string{
		"missing": "", "garbage": "kva_garbage", "well-formed but unknown": agent.MintAPIKey(),
		"revoked": w.keys["revoked"], "agent token": w.agentA.Token,
	}
	for _, r := range w.srv.Service.Routes() {
		if open[r.Path] {
			continue
		}
		path := strings.NewReplacer("{id}", w.agentA.ID).Replace(r.Path)
		for name, key := range bad {
			resp := send(t, r.Method, w.url(path), key, "{}")
			if resp.status != http.StatusUnauthorized {
				t.Errorf("%s %s with a %s key: status %d, want 401", r.Method, r.Path, name, resp.status)
				continue
			}
			if p := resp.problem(t); p.Code != api.CodeUnauthenticated {
				t.Errorf("%s %s: code %s", r.Method, r.Path, p.Code)
			}
			if resp.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: a 401 names the scheme in WWW-Authenticate", r.Method, r.Path)
			}
		}
	}
	if resp := send(t, "GET", w.url("/v1/agents/"+w.agentA.ID), w.keys["alice"], ""); resp.status != http.StatusOK {
		t.Fatalf("the same route with a good key: %d", resp.status)
	}
}

// TestIsolation tries each route as a caller that must not reach alice's objects (another
// user, the admin of another tenant, an app key) and checks that nothing leaked or changed.
func TestIsolation(t *testing.T) {
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		w := newWorld(t, b.New(t))
		A, A2, D, P := w.agentA.ID, w.agentA2.ID, w.delegA.ID, w.approval
		delegate := mustJSON(api.DelegateRequest{FromAgentID: A, ToAgentID: A2, Permissions: []agent.Permission{{Resource: "mcp:github:x", Actions: []string{"read"}}}})
		cases := []struct {
			caller, method, path, body string
			status                     int
			code                       string // problem code, or the decision code of a 200 decision
		}{
			// agents
			{"bob", "GET", "/v1/agents/" + A, "", 404, "not_found"},
			{"acmeAdmin", "GET", "/v1/agents/" + A, "", 404, "not_found"},
			{"bob", "PATCH", "/v1/agents/" + A, `{"name":"pwned"}`, 404, "not_found"},
			{"acmeAdmin", "PATCH", "/v1/agents/" + A, `{"name":"pwned"}`, 404, "not_found"},
			{"app", "PATCH", "/v1/agents/" + A, `{"name":"pwned"}`, 403, "forbidden"},
			{"bob", "POST", "/v1/agents/" + A + "/rotate", "", 404, "not_found"},
			{"acmeAdmin", "POST", "/v1/agents/" + A + "/rotate", "", 404, "not_found"},
			{"app", "POST", "/v1/agents/" + A + "/rotate", "", 403, "forbidden"},
			{"bob", "POST", "/v1/agents/" + A + "/revoke", "", 404, "not_found"},
			{"acmeAdmin", "POST", "/v1/agents/" + A + "/revoke", "", 404, "not_found"},
			{"app", "POST", "/v1/agents/" + A + "/revoke", "", 403, "forbidden"},
			{"bob", "GET", "/v1/agents?ownerId=alice", "", 403, "forbidden"},
			{"acmeAdmin", "GET", "/v1/agents?tenantId=default", "", 403, "forbidden"},
			{"bob", "POST", "/v1/agents", `{"ownerId":"alice","name":"x","permissions":[]}`, 403, "forbidden"},
			{"app", "POST", "/v1/agents", `{"ownerId":"alice","name":"x","permissions":[]}`, 403, "forbidden"},
			{"acmeAdmin", "POST", "/v1/agents", `{"tenantId":"default","ownerId":"alice","name":"x","permissions":[]}`, 403, "forbidden"},
			{"bob", "POST", "/v1/tokens/validate", mustJSON(api.ValidateTokenRequest{Token: w.agentA.Token}), 401, "unauthenticated"},
			{"acmeAdmin", "POST", "/v1/tokens/validate", mustJSON(api.ValidateTokenRequest{Token: w.agentA.Token}), 401, "unauthenticated"},
			// decisions
			{"bob", "POST", "/v1/authorize", `{"agentId":"` + A + `","action":"read","resource":"mcp:github:repos"}`, 200, "AGENT_NOT_FOUND"},
			{"acmeAdmin", "POST", "/v1/authorize", `{"agentId":"` + A + `","action":"read","resource":"mcp:github:repos"}`, 200, "AGENT_NOT_FOUND"},
			// delegations
			{"bob", "GET", "/v1/delegations/" + D, "", 404, "not_found"},
			{"acmeAdmin", "GET", "/v1/delegations/" + D, "", 404, "not_found"},
			{"bob", "POST", "/v1/delegations/" + D + "/revoke", "", 404, "not_found"},
			{"acmeAdmin", "POST", "/v1/delegations/" + D + "/revoke", "", 404, "not_found"},
			{"app", "POST", "/v1/delegations/" + D + "/revoke", "", 403, "forbidden"},
			{"bob", "GET", "/v1/delegations?agentId=" + A, "", 404, "not_found"},
			{"bob", "POST", "/v1/delegations", delegate, 404, "not_found"},
			{"acmeAdmin", "POST", "/v1/delegations", delegate, 404, "not_found"},
			{"app", "POST", "/v1/delegations", delegate, 403, "forbidden"},
			// approvals
			{"bob", "GET", "/v1/approvals/" + P, "", 404, "not_found"},
			{"acmeAdmin", "GET", "/v1/approvals/" + P, "", 404, "not_found"},
			{"bob", "POST", "/v1/approvals/" + P + "/approve", "", 404, "not_found"},
			{"acmeAdmin", "POST", "/v1/approvals/" + P + "/approve", "", 404, "not_found"},
			{"app", "POST", "/v1/approvals/" + P + "/approve", "", 403, "forbidden"},
			{"bob", "POST", "/v1/approvals/" + P + "/deny", "", 404, "not_found"},
			{"acmeAdmin", "POST", "/v1/approvals/" + P + "/deny", "", 404, "not_found"},
			{"app", "POST", "/v1/approvals/" + P + "/deny", "", 403, "forbidden"},
			// tenants and keys
			{"admin", "POST", "/v1/tenants", `{"id":"mine"}`, 403, "forbidden"},
			{"app", "POST", "/v1/tenants", `{"id":"mine"}`, 403, "forbidden"},
			{"alice", "POST", "/v1/tenants", `{"id":"mine"}`, 403, "forbidden"},
			{"admin", "GET", "/v1/tenants/acme", "", 404, "not_found"},
			{"alice", "POST", "/v1/api-keys", `{"role":"user","ownerId":"alice"}`, 403, "forbidden"},
			{"app", "POST", "/v1/api-keys", `{"role":"app"}`, 403, "forbidden"},
			{"admin", "POST", "/v1/api-keys", `{"role":"root"}`, 403, "forbidden"},
			{"admin", "POST", "/v1/api-keys", `{"role":"admin","tenantId":"acme"}`, 403, "forbidden"},
			{"app", "GET", "/v1/api-keys", "", 403, "forbidden"},
			{"bob", "GET", "/v1/api-keys?ownerId=alice", "", 403, "forbidden"},
			{"admin", "POST", "/v1/api-keys/" + w.keyIDs["acmeAdmin"] + "/revoke", "", 404, "not_found"},
			{"bob", "POST", "/v1/api-keys/" + w.keyIDs["alice"] + "/revoke", "", 404, "not_found"},
			{"app", "POST", "/v1/api-keys/" + w.keyIDs["alice"] + "/revoke", "", 403, "forbidden"},
		}
		for _, tc := range cases {
			resp := send(t, tc.method, w.url(tc.path), w.keys[tc.caller], tc.body)
			what := tc.caller + " " + tc.method + " " + tc.path
			if resp.status != tc.status {
				t.Errorf("%s: status %d, want %d: %s", what, resp.status, tc.status, resp.body)
				continue
			}
			if resp.status == http.StatusOK {
				var d api.Decision
				resp.decode(t, &d)
				if string(d.Code) != tc.code || d.Allowed {
					t.Errorf("%s: decision %s, want %s", what, d.Code, tc.code)
				}
			} else if p := resp.problem(t); string(p.Code) != tc.code {
				t.Errorf("%s: code %s, want %s", what, p.Code, tc.code)
			}
		}

		// Listings show nothing of alice's to bob or to another tenant.
		for _, caller := range []string{"bob", "acmeAdmin"} {
			for _, path := range []string{"/v1/agents", "/v1/delegations", "/v1/approvals", "/v1/api-keys"} {
				resp := send(t, "GET", w.url(path), w.keys[caller], "")
				if resp.status != http.StatusOK {
					t.Fatalf("%s lists %s: %d %s", caller, path, resp.status, resp.body)
				}
				for _, id := range []string{A, A2, D, P, w.keyIDs["alice"]} {
					if strings.Contains(string(resp.body), id) {
						t.Errorf("%s's listing of %s shows %s", caller, path, id)
					}
				}
			}
		}

		// Everything of alice's is as it was.
		var got agent.Agent
		send(t, "GET", w.url("/v1/agents/"+A), w.keys["alice"], "").decode(t, &got)
		if got.Name != "n" || got.Status != agent.StatusActive || got.TokenPrefix != w.agentA.TokenPrefix {
			t.Fatalf("alice's agent changed: %+v", got)
		}
		var d agent.Delegation
		send(t, "GET", w.url("/v1/delegations/"+D), w.keys["alice"], "").decode(t, &d)
		var ap agent.ApprovalRequest
		send(t, "GET", w.url("/v1/approvals/"+P), w.keys["alice"], "").decode(t, &ap)
		if d.Status != agent.DelegationActive || ap.Status != agent.ApprovalPending {
			t.Fatalf("alice's delegation or approval changed: %s %s", d.Status, ap.Status)
		}
		if resp := send(t, "GET", w.url("/v1/agents/"+A), w.keys["alice"], ""); resp.status != http.StatusOK {
			t.Fatalf("alice's own key stopped working: %d", resp.status)
		}
	})
}
