package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/client"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// echoes records the X-Request-ID of each request and of its answer.
type echoes struct {
	mu   sync.Mutex
	sent []string
	got  []string
}

func (e *echoes) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		e.mu.Lock()
		e.sent, e.got = append(e.sent, r.Header.Get("X-Request-ID")), append(e.got, resp.Header.Get("X-Request-ID"))
		e.mu.Unlock()
	}
	return resp, err
}

// authzenServer is a server with one agent of alice's with grants on n resources
// "res:r00" … under the type "res", and a second tenant.
func authzenServer(t *testing.T, n int) (*testserver.Server, *api.AgentWithToken) {
	t.Helper()
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	ctx := kavach.WithActor(context.Background(), api.Root)
	if _, err := srv.Kavach.Tenants().Create(ctx, api.CreateTenantRequest{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	ps := []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read", "write"}}}
	for i := range n {
		ps = append(ps, agent.Permission{Resource: fmt.Sprintf("res:r%02d", i), Actions: []string{"read"}})
	}
	a, err := srv.Kavach.Agents().Create(ctx, api.CreateAgentRequest{TenantID: agent.DefaultTenant, OwnerID: "alice", Name: "a", Permissions: ps})
	if err != nil {
		t.Fatal(err)
	}
	return srv, a
}

func evaluation(agentID, action, typ, id string) api.AuthZENEvaluation {
	return api.AuthZENEvaluation{Subject: &api.AuthZENSubject{Type: "agent", ID: agentID},
		Action: &api.AuthZENAction{Name: action}, Resource: &api.AuthZENResource{Type: typ, ID: id}}
}

// TestAuthZENClient: the metadata, evaluation, evaluations and the three searches over
// real HTTP, with the API key, an agent's token and a request id.
func TestAuthZENClient(t *testing.T) {
	t.Parallel()
	srv, a := authzenServer(t, 0)
	rec := &echoes{}
	c, err := client.New(srv.URL, srv.Key(t, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}), client.WithHTTPClient(&http.Client{Transport: rec}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	az := c.AuthZEN()

	cfg, err := az.Configuration(ctx)
	if err != nil || cfg.PolicyDecisionPoint != srv.URL || cfg.SearchSubjectEndpoint != srv.URL+"/access/v1/search/subject" {
		t.Fatalf("configuration: %+v %v", cfg, err)
	}
	cfg, err = az.Tenant("acme").Configuration(ctx)
	if err != nil || cfg.AccessEvaluationEndpoint != srv.URL+"/tenants/acme/access/v1/evaluation" {
		t.Fatalf("acme's configuration: %+v %v", cfg, err)
	}

	d, err := az.WithRequestID("rid-1").Evaluation(ctx, api.AuthZENEvaluationRequest{AuthZENEvaluation: evaluation(a.ID, "read", "mcp:github", "repos")})
	if err != nil || !d.Decision || d.Context.Code != api.Allowed || d.Context.AuditID == "" {
		t.Fatalf("evaluation: %+v %v", d, err)
	}
	if i := slices.Index(rec.sent, "rid-1"); i < 0 || rec.got[i] != "rid-1" {
		t.Fatalf("X-Request-ID sent %v, echoed %v", rec.sent, rec.got)
	}
	d, err = az.Evaluation(ctx, api.AuthZENEvaluationRequest{AuthZENEvaluation: evaluation(a.ID, "delete", "mcp:github", "repos")})
	if err != nil || d.Decision || d.Context.Code != api.NoPermission {
		t.Fatalf("a deny: %+v %v", d, err)
	}
	if d, err := az.WithToken(a.Token).Evaluation(ctx, api.AuthZENEvaluationRequest{AuthZENEvaluation: evaluation(a.ID, "write", "mcp:github", "x")}); err != nil || !d.Decision {
		t.Fatalf("with the agent's token: %+v %v", d, err)
	}

	top := evaluation(a.ID, "read", "", "")
	top.Resource = nil
	batch, err := az.Evaluations(ctx, api.AuthZENEvaluationsRequest{AuthZENEvaluation: top,
		Options: &api.AuthZENOptions{EvaluationsSemantic: api.DenyOnFirstDeny},
		Evaluations: []api.AuthZENEvaluation{
			{Resource: &api.AuthZENResource{Type: "mcp:github", ID: "a"}},
			{Resource: &api.AuthZENResource{Type: "mcp:slack", ID: "b"}},
			{Resource: &api.AuthZENResource{Type: "mcp:github", ID: "c"}},
		}})
	if err != nil || len(batch.Evaluations) != 2 || !batch.Evaluations[0].Decision || batch.Evaluations[1].Decision {
		t.Fatalf("deny_on_first_deny: %+v %v", batch, err)
	}
	single, err := az.Evaluations(ctx, api.AuthZENEvaluationsRequest{AuthZENEvaluation: evaluation(a.ID, "read", "mcp:github", "a")})
	if err != nil || len(single.Evaluations) != 1 || !single.Evaluations[0].Decision {
		t.Fatalf("evaluations without items: %+v %v", single, err)
	}

	subject := &api.AuthZENSubject{Type: "agent", ID: a.ID}
	acts, err := az.SearchAction(ctx, api.AuthZENSearchRequest{Subject: subject, Resource: &api.AuthZENResource{Type: "mcp:github", ID: "repos"}})
	if err != nil || len(acts.Results) != 2 || acts.Results[0].Name != "read" || acts.Results[1].Name != "write" || acts.Page.NextToken != "" {
		t.Fatalf("action search: %+v %v", acts, err)
	}
	subs, err := az.SearchSubject(ctx, api.AuthZENSearchRequest{Subject: &api.AuthZENSubject{Type: "agent"},
		Action: &api.AuthZENAction{Name: "write"}, Resource: &api.AuthZENResource{Type: "mcp:github", ID: "repos"}})
	if err != nil || len(subs.Results) != 1 || subs.Results[0].ID != a.ID {
		t.Fatalf("subject search: %+v %v", subs, err)
	}
}

// TestAuthZENClientPaging: a resource search read page by page, each request the first
// one with the last page's next_token, until the token is empty: every result once, in
// order.
func TestAuthZENClientPaging(t *testing.T) {
	t.Parallel()
	srv, a := authzenServer(t, 23)
	az := srv.Client(t, api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "alice"}).AuthZEN()
	limit := 5
	req := api.AuthZENSearchRequest{Subject: &api.AuthZENSubject{Type: "agent", ID: a.ID},
		Action: &api.AuthZENAction{Name: "read"}, Resource: &api.AuthZENResource{Type: "res"}, Page: &api.AuthZENPage{Limit: &limit}}
	var got []string
	pages := 0
	for {
		page, err := az.SearchResource(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if page.Page.Count != len(page.Results) || len(page.Results) > limit {
			t.Fatalf("page %d: count %d of %d results", pages, page.Page.Count, len(page.Results))
		}
		for _, r := range page.Results {
			got = append(got, r.ID)
		}
		if page.Page.NextToken == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		req.Page.Token = page.Page.NextToken
	}
	want := make([]string, 23)
	for i := range want {
		want[i] = fmt.Sprintf("r%02d", i)
	}
	if !slices.Equal(got, want) || pages != 5 {
		t.Fatalf("%d pages: %v", pages, got)
	}
}

// TestAuthZENClientErrors: a refusal comes back as *api.Error with the server's code,
// field and reason.
func TestAuthZENClientErrors(t *testing.T) {
	t.Parallel()
	srv, a := authzenServer(t, 0)
	az := srv.Client(t, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}).AuthZEN()
	ctx := context.Background()
	var ae *api.Error

	noAction := evaluation(a.ID, "", "mcp:github", "repos")
	_, err := az.Evaluation(ctx, api.AuthZENEvaluationRequest{AuthZENEvaluation: noAction})
	if !errors.As(err, &ae) || ae.Code != api.CodeInvalidInput || ae.Field != "action.name" {
		t.Fatalf("no action name: %#v", err)
	}
	// An item that cannot be a call is answered in place, with its field.
	out, err := az.Evaluations(ctx, api.AuthZENEvaluationsRequest{AuthZENEvaluation: evaluation(a.ID, "read", "mcp:github", "a"),
		Evaluations: []api.AuthZENEvaluation{{}, {Resource: &api.AuthZENResource{Type: "mcp:github", ID: "*"}}}})
	if err != nil || len(out.Evaluations) != 2 || out.Evaluations[1].Decision || out.Evaluations[1].Context.Error == nil ||
		out.Evaluations[1].Context.Error.Field != "evaluations[1].resource.id" {
		t.Fatalf("a pattern in an item: %+v %v", out, err)
	}
	_, err = az.SearchResource(ctx, api.AuthZENSearchRequest{Subject: &api.AuthZENSubject{Type: "agent", ID: a.ID},
		Action: &api.AuthZENAction{Name: "read"}, Resource: &api.AuthZENResource{Type: "mcp:github"}, Page: &api.AuthZENPage{Token: "forged"}})
	if !errors.As(err, &ae) || ae.Code != api.CodeInvalidInput || ae.Field != "page.token" {
		t.Fatalf("a forged token: %#v", err)
	}
	_, err = az.WithToken("kv_garbage").Evaluation(ctx, api.AuthZENEvaluationRequest{AuthZENEvaluation: evaluation(a.ID, "read", "mcp:github", "a")})
	if !errors.As(err, &ae) || ae.Code != api.CodeUnauthenticated || ae.Reason != string(api.TokenInvalid) {
		t.Fatalf("an invalid token: %#v", err)
	}
	_, err = az.Tenant("acme").Evaluation(ctx, api.AuthZENEvaluationRequest{AuthZENEvaluation: evaluation(a.ID, "read", "mcp:github", "a")})
	if !errors.As(err, &ae) || ae.Code != api.CodeForbidden {
		t.Fatalf("another tenant's PDP: %#v", err)
	}
}

// TestAuthZENClientRefusesForeignMetadata: §9.2.3 — metadata that names another PDP than
// the one asked is not used.
func TestAuthZENClientRefusesForeignMetadata(t *testing.T) {
	t.Parallel()
	srv, _ := authzenServer(t, 0)
	// The same server under another name: its metadata names the address it was reached at.
	proxy := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Host = "pdp.example.com"
		return http.DefaultTransport.RoundTrip(r)
	})}
	c, err := client.New(srv.URL, srv.RootKey, client.WithHTTPClient(proxy))
	if err != nil {
		t.Fatal(err)
	}
	var ae *api.Error
	if _, err := c.AuthZEN().Configuration(context.Background()); !errors.As(err, &ae) || ae.Code != api.CodeInternal {
		t.Fatalf("metadata of http://pdp.example.com used for %s: %v", srv.URL, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
