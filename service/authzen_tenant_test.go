package service_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// TestAuthZENTenantDiscovery: §9.2 — metadata lives at the PDP identifier with the
// well-known string inserted after the host; a tenant's PDP https://host/tenants/acme has
// its metadata at /.well-known/authzen-configuration/tenants/acme, naming itself and its
// own endpoints, without a credential. A well-formed tenant id is answered whether or not
// the tenant exists, so that the metadata does not tell which do.
func TestAuthZENTenantDiscovery(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	for _, tenant := range []string{"acme", "no-such-tenant"} {
		r := send(t, http.MethodGet, w.srv.URL+"/.well-known/authzen-configuration/tenants/"+tenant, "", "", "X-Request-ID", "t-1")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Request-ID") != "t-1" {
			t.Fatalf("%s: %d %v %s", tenant, r.status, r.header, r.body)
		}
		var got api.AuthZENConfiguration
		r.decode(t, &got)
		pdp := w.srv.URL + "/tenants/" + tenant
		want := api.AuthZENConfiguration{
			PolicyDecisionPoint: pdp, AccessEvaluationEndpoint: pdp + "/access/v1/evaluation",
			AccessEvaluationsEndpoint: pdp + "/access/v1/evaluations", SearchSubjectEndpoint: pdp + "/access/v1/search/subject",
			SearchResourceEndpoint: pdp + "/access/v1/search/resource", SearchActionEndpoint: pdp + "/access/v1/search/action",
		}
		if mustJSON(got) != mustJSON(want) {
			t.Fatalf("%s: %+v", tenant, got)
		}
	}
	for _, bad := range []string{"ACME", "a.b", "-acme"} {
		if r := send(t, http.MethodGet, w.srv.URL+"/.well-known/authzen-configuration/tenants/"+bad, "", ""); r.status != http.StatusNotFound {
			t.Errorf("%s: %d", bad, r.status)
		}
	}
}

// TestAuthZENTenantPDP: a tenant's PDP answers its tenant's keys and agents' tokens only:
// another tenant's key and a root key are 403, another tenant's agent token is not valid
// there (401); its searches see the tenant's agents.
func TestAuthZENTenantPDP(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	acmeCtx := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleAdmin, TenantID: "acme"})
	acmeAgent, err := w.srv.Kavach.Agents().Create(acmeCtx, api.CreateAgentRequest{Name: "a", OwnerID: "carol",
		Permissions: []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defaultAgent := w.agent(t, agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}})
	eval := func(id string) string {
		return `{"subject":{"type":"agent","id":"` + id + `"},"action":{"name":"read"},"resource":{"type":"mcp:github","id":"repos"}}`
	}
	acme := "/tenants/acme/access/v1"
	if d := w.post(t, acme+"/evaluation", w.keys["acmeAdmin"], eval(acmeAgent.ID)).decision(t); !d.Decision {
		t.Fatalf("acme's admin: %+v", d.Context)
	}
	if d := w.post(t, acme+"/evaluation", acmeAgent.Token, eval(acmeAgent.ID)).decision(t); !d.Decision {
		t.Fatalf("acme's agent: %+v", d.Context)
	}
	for name, key := range map[string]string{"root": w.keys["root"], "default's app": w.keys["app"], "alice": w.keys["alice"]} {
		r := w.post(t, acme+"/evaluation", key, eval(acmeAgent.ID))
		if p := r.problem(t); r.status != http.StatusForbidden || p.Code != api.CodeForbidden {
			t.Errorf("%s on acme's PDP: %d %+v", name, r.status, p)
		}
	}
	r := w.post(t, acme+"/evaluation", defaultAgent.Token, eval(defaultAgent.ID))
	if p := r.problem(t); r.status != http.StatusUnauthorized || p.Reason != string(api.TokenInvalid) {
		t.Fatalf("another tenant's agent token: %d %+v", r.status, p)
	}
	// The default tenant's PDP is its own too; the base PDP still answers every tenant.
	if d := w.post(t, "/tenants/default/access/v1/evaluation", defaultAgent.Token, eval(defaultAgent.ID)).decision(t); !d.Decision {
		t.Fatalf("default's agent on default's PDP: %+v", d.Context)
	}
	if d := w.post(t, "/access/v1/evaluation", w.keys["root"], eval(acmeAgent.ID)).decision(t); !d.Decision {
		t.Fatalf("root on the base PDP: %+v", d.Context)
	}
	// Batch and searches.
	batch := `{"subject":{"type":"agent","id":"` + acmeAgent.ID + `"},"action":{"name":"read"},"evaluations":[{"resource":{"type":"mcp:github","id":"a"}},{"resource":{"type":"mcp:slack","id":"b"}}]}`
	if got := w.post(t, acme+"/evaluations", w.keys["acmeAdmin"], batch).evaluations(t); len(got) != 2 || !got[0].Decision || got[1].Decision {
		t.Fatalf("batch: %s", mustJSON(got))
	}
	if got := resourceIDs(w.post(t, acme+"/search/resource", w.keys["acmeAdmin"], resourceSearch(acmeAgent.ID, "read", "mcp:github", "")).resources(t)); !slices.Equal(got, []string{"*"}) {
		t.Fatalf("resource search: %v", got)
	}
	if got := actionNames(w.post(t, acme+"/search/action", acmeAgent.Token, actionSearch(acmeAgent.ID, "mcp:github", "repos", "")).actions(t)); !slices.Equal(got, []string{"read"}) {
		t.Fatalf("action search by token: %v", got)
	}
	if got := subjectIDs(w.post(t, acme+"/search/subject", w.keys["acmeAdmin"], subjectSearch("read", "mcp:github", "repos", "")).subjects(t)); !slices.Equal(got, []string{acmeAgent.ID}) {
		t.Fatalf("subject search: %v", got)
	}
	if r := w.post(t, acme+"/search/action", defaultAgent.Token, actionSearch(defaultAgent.ID, "mcp:github", "repos", "")); r.status != http.StatusUnauthorized {
		t.Fatalf("another tenant's token searching: %d", r.status)
	}
	if r := w.post(t, acme+"/search/subject", w.keys["app"], subjectSearch("read", "mcp:github", "repos", "")); r.status != http.StatusForbidden {
		t.Fatalf("another tenant's key searching: %d", r.status)
	}
	if r := w.post(t, "/tenants/Acme/access/v1/evaluation", w.keys["acmeAdmin"], eval(acmeAgent.ID), "X-Request-ID", "t-2"); r.status != http.StatusNotFound || r.header.Get("X-Request-ID") != "t-2" {
		t.Fatalf("a tenant id that cannot exist: %d", r.status)
	}
}
