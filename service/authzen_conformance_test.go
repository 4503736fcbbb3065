package service_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/service"
)

// The tests here pin a reading of the AuthZEN Authorization API 1.0 text; each names the
// section it follows (docs/authzen.md#conformance).

// TestAuthZENSearchIgnoresTheSearchedID: §8.4.1 and §8.5.1 — the id of the entity searched
// for SHOULD be omitted, and if present MUST be ignored.
func TestAuthZENSearchIgnoresTheSearchedID(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t, agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}})
	res := `{"subject":{"type":"agent","id":"` + a.ID + `"},"action":{"name":"read"},"resource":{"type":"mcp:github","id":"ignored"}}`
	if got := resourceIDs(w.post(t, "/access/v1/search/resource", w.keys["alice"], res).resources(t)); !slices.Equal(got, []string{"*"}) {
		t.Fatalf("resource search with a resource.id: %v", got)
	}
	sub := `{"subject":{"type":"agent","id":"agt_ignored"},"action":{"name":"read"},"resource":{"type":"mcp:github","id":"repos"}}`
	if got := subjectIDs(w.post(t, "/access/v1/search/subject", w.keys["alice"], sub).subjects(t)); !slices.Equal(got, []string{a.ID}) {
		t.Fatalf("subject search with a subject.id: %v", got)
	}
}

// TestAuthZENSearchUnknownTypes: §8 — a search answers the permitted entities of the
// type asked about; a type Kavach does not judge has none, an empty answer rather than a
// 400 (as the working group's certification scenario also requires).
func TestAuthZENSearchUnknownTypes(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t, agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}})
	for path, body := range map[string]string{
		"/access/v1/search/subject":  `{"subject":{"type":"spaceship"},"action":{"name":"read"},"resource":{"type":"mcp:github","id":"repos"}}`,
		"/access/v1/search/resource": `{"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"mcp:github"}}`,
		"/access/v1/search/action":   `{"subject":{"type":"user","id":"alice"},"resource":{"type":"mcp:github","id":"repos"}}`,
	} {
		for _, bearer := range []string{w.keys["alice"], a.Token} {
			r := w.post(t, path, bearer, body)
			if r.status != http.StatusOK || !strings.Contains(string(r.body), `"results":[]`) || !strings.Contains(string(r.body), `"next_token":""`) {
				t.Fatalf("%s: %d %s", path, r.status, r.body)
			}
		}
		// The token is still checked first.
		if r := w.post(t, path, "kv_garbage", body); r.status != http.StatusUnauthorized {
			t.Fatalf("%s with a bad token: %d", path, r.status)
		}
	}
}

// TestAuthZENSearchLimit: §8.2.1 — page.limit is a non-negative integer, the most results
// to return: over the maximum it is answered with the maximum's page, and a negative limit
// is a 400. A limit of 0 is the default page: every page of a search has the first page's
// limit, so pages of none would hand a PEP the same next_token for ever.
func TestAuthZENSearchLimit(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t,
		agent.Permission{Resource: "mcp:github:a", Actions: []string{"read"}},
		agent.Permission{Resource: "mcp:github:b", Actions: []string{"read"}})
	for _, limit := range []string{"5000", "0"} {
		r := w.post(t, "/access/v1/search/resource", w.keys["alice"], resourceSearch(a.ID, "read", "mcp:github", `,"page":{"limit":`+limit+`}`)).resources(t)
		if got := resourceIDs(r); !slices.Equal(got, []string{"a", "b"}) || r.Page.NextToken != "" {
			t.Fatalf("limit %s: %v %+v", limit, got, r.Page)
		}
	}
	r := w.post(t, "/access/v1/search/resource", w.keys["alice"], resourceSearch(a.ID, "read", "mcp:slack", `,"page":{"limit":0}`)).resources(t)
	if len(r.Results) != 0 || r.Page.NextToken != "" {
		t.Fatalf("limit 0 over none: %+v", r)
	}
	for _, path := range []string{"/access/v1/search/subject", "/access/v1/search/action"} {
		body := subjectSearch("read", "mcp:github", "a", `,"page":{"limit":0}`)
		if path == "/access/v1/search/action" {
			body = actionSearch(a.ID, "mcp:github", "a", `,"page":{"limit":0}`)
		}
		r := w.post(t, path, w.keys["alice"], body)
		if r.status != http.StatusOK || strings.Contains(string(r.body), `"results":[]`) || !strings.Contains(string(r.body), `"next_token":""`) {
			t.Fatalf("%s with limit 0: %d %s", path, r.status, r.body)
		}
	}
	bad := w.post(t, "/access/v1/search/resource", w.keys["alice"], resourceSearch(a.ID, "read", "mcp:github", `,"page":{"limit":-1}`))
	if p := bad.problem(t); bad.status != http.StatusBadRequest || p.Field != "page.limit" {
		t.Fatalf("limit -1: %d %s", bad.status, bad.body)
	}
}

// TestAuthZENSearchLastPage: §8.2.2 — next_token is empty when no result is left, so a
// page that ends where the allowed results end carries none, even when candidates that
// are not allowed come after it.
func TestAuthZENSearchLastPage(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	gated := &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}
	a := w.agent(t,
		agent.Permission{Resource: "mcp:github:a", Actions: []string{"read"}},
		agent.Permission{Resource: "mcp:github:b", Actions: []string{"read"}},
		agent.Permission{Resource: "mcp:github:c", Actions: []string{"read"}, Constraints: gated},
		agent.Permission{Resource: "mcp:github:d", Actions: []string{"read"}, Constraints: gated})
	r := w.post(t, "/access/v1/search/resource", w.keys["alice"], resourceSearch(a.ID, "read", "mcp:github", `,"page":{"limit":2}`)).resources(t)
	if got := resourceIDs(r); !slices.Equal(got, []string{"a", "b"}) || r.Page.NextToken != "" {
		t.Fatalf("the allowed results end the page: %v %+v", got, r.Page)
	}
	r = w.post(t, "/access/v1/search/resource", w.keys["alice"], resourceSearch(a.ID, "read", "mcp:github", `,"page":{"limit":1}`)).resources(t)
	if got := resourceIDs(r); !slices.Equal(got, []string{"a"}) || r.Page.NextToken == "" {
		t.Fatalf("b is left: %v %+v", got, r.Page)
	}
	// Among agents too: the gated agent after the last allowed one is not a next page.
	w.agent(t, agent.Permission{Resource: "mcp:github:a", Actions: []string{"read"}, Constraints: gated})
	s := w.post(t, "/access/v1/search/subject", w.keys["alice"], subjectSearch("read", "mcp:github", "a", `,"page":{"limit":1}`)).subjects(t)
	if got := subjectIDs(s); !slices.Equal(got, []string{a.ID}) || s.Page.NextToken != "" {
		t.Fatalf("subjects: %v %+v", got, s.Page)
	}
}

// TestAuthZENSearchTokenBindsTheRequest: §8.2 — with a token, every entity and paging
// parameter must be as on the first page, and a PDP SHOULD refuse a change. Member order
// and spacing are not changes.
func TestAuthZENSearchTokenBindsTheRequest(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t,
		agent.Permission{Resource: "mcp:github:a", Actions: []string{"read", "write"}},
		agent.Permission{Resource: "mcp:github:b", Actions: []string{"read"}},
		agent.Permission{Resource: "mcp:github:c", Actions: []string{"read"}})
	first := w.post(t, "/access/v1/search/resource", w.keys["alice"], resourceSearch(a.ID, "read", "mcp:github", `,"page":{"limit":1}`)).resources(t)
	tok := first.Page.NextToken
	if tok == "" {
		t.Fatal("no next_token")
	}
	same := `{ "page": {"token":"` + tok + `", "limit": 1}, "resource": {"type":"mcp:github"}, "action":{"name":"read"},` +
		` "subject":{"id":"` + a.ID + `","type":"agent"} }`
	if got := resourceIDs(w.post(t, "/access/v1/search/resource", w.keys["alice"], same).resources(t)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("the same request, reordered: %v", got)
	}
	for name, body := range map[string]string{
		"another action":  resourceSearch(a.ID, "write", "mcp:github", `,"page":{"limit":1,"token":"`+tok+`"}`),
		"another limit":   resourceSearch(a.ID, "read", "mcp:github", `,"page":{"limit":2,"token":"`+tok+`"}`),
		"no limit":        resourceSearch(a.ID, "read", "mcp:github", `,"page":{"token":"`+tok+`"}`),
		"another context": resourceSearch(a.ID, "read", "mcp:github", `,"context":{"time":"2026-01-01T00:00:00Z"},"page":{"limit":1,"token":"`+tok+`"}`),
	} {
		if p := w.post(t, "/access/v1/search/resource", w.keys["alice"], body).problem(t); p.Status != http.StatusBadRequest || p.Field != "page.token" {
			t.Errorf("%s: %+v", name, p)
		}
	}
}

// TestAuthZENInvalidAgentToken: §10.1.2 and §11.3 — a request without proper credentials
// is a 401 with WWW-Authenticate, not a decision. An agent's token that is not valid is the
// request's credential, so evaluation and evaluations answer 401; the facade still audits
// the attempt as TOKEN_INVALID, as on /v1/authorize/token.
func TestAuthZENInvalidAgentToken(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t, agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}})
	subj := `"subject":{"type":"agent","id":"` + a.ID + `"}`
	one := `{` + subj + `,"action":{"name":"read"},"resource":{"type":"mcp:github","id":"repos"}}`
	batch := `{` + subj + `,"action":{"name":"read"},"evaluations":[{"resource":{"type":"mcp:github","id":"a"}},{"resource":{"type":"mcp:github","id":"b"}}]}`
	bad := "kv_" + strings.Repeat("A", len(a.Token)-3)
	for _, c := range []struct{ path, bearer, body string }{
		{"/access/v1/evaluation", bad, one},
		{"/access/v1/evaluation", "kv_garbage", one},
		{"/access/v1/evaluations", bad, batch},
		{"/access/v1/evaluations", bad, one},
	} {
		r := w.post(t, c.path, c.bearer, c.body, "X-Request-ID", "bad-token")
		if p := r.problem(t); r.status != http.StatusUnauthorized || p.Reason != string(api.TokenInvalid) ||
			r.header.Get("WWW-Authenticate") == "" || r.header.Get("X-Request-ID") != "bad-token" {
			t.Fatalf("%s with %.12s…: %d %v %s", c.path, c.bearer, r.status, r.header, r.body)
		}
	}
	page, err := w.srv.Kavach.Audit().Query(kavach.WithActor(context.Background(), api.Root), api.AuditQuery{Code: string(api.TokenInvalid), Limit: 10})
	if err != nil || len(page.Events) == 0 {
		t.Fatalf("the attempts are not audited: %v %+v", err, page)
	}
	// A valid token is judged as before, and a revoked agent's token is its decision.
	if d := w.post(t, "/access/v1/evaluation", a.Token, one).decision(t); !d.Decision {
		t.Fatalf("a valid token: %+v", d.Context)
	}
	ctx := kavach.WithActor(context.Background(), api.Root)
	if _, err := w.srv.Kavach.Agents().Revoke(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if d := w.post(t, "/access/v1/evaluation", a.Token, one).decision(t); d.Decision || d.Context.Code != api.AgentRevoked {
		t.Fatalf("a revoked agent's token: %+v", d.Context)
	}
}

// TestAuthZENRequestIDOnEveryAnswer: §10.1.3 — when the PEP sends X-Request-ID, the PDP
// MUST answer with the same identifier, including when the request is refused before a
// route takes it.
func TestAuthZENRequestIDOnEveryAnswer(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/access/v1/evaluation", http.StatusMethodNotAllowed},
		{http.MethodPost, "/.well-known/authzen-configuration", http.StatusMethodNotAllowed},
		{http.MethodPost, "/access/v1/search/everything", http.StatusNotFound},
		{http.MethodPost, "/access/v1/evaluation?pad=" + strings.Repeat("x", service.MaxURIBytes), http.StatusRequestURITooLong},
	} {
		r := send(t, c.method, w.srv.URL+c.path, w.keys["alice"], "{}", "X-Request-ID", "rid-7")
		if r.status != c.status || r.header.Get("X-Request-ID") != "rid-7" {
			t.Errorf("%s %.40s: %d, X-Request-ID %q", c.method, c.path, r.status, r.header.Get("X-Request-ID"))
		}
	}
}
