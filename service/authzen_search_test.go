package service_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

func actionSearch(subject, typ, id string, page string) string {
	return `{"subject":{"type":"agent","id":"` + subject + `"},"resource":{"type":"` + typ + `","id":"` + id + `"}` + page + `}`
}

func resourceSearch(subject, action, typ string, page string) string {
	return `{"subject":{"type":"agent","id":"` + subject + `"},"action":{"name":"` + action + `"},"resource":{"type":"` + typ + `"}` + page + `}`
}

func (r response) actions(t *testing.T) api.AuthZENActionSearchResponse {
	t.Helper()
	return okAs[api.AuthZENActionSearchResponse](t, r)
}

func (r response) resources(t *testing.T) api.AuthZENResourceSearchResponse {
	t.Helper()
	return okAs[api.AuthZENResourceSearchResponse](t, r)
}

func actionNames(res api.AuthZENActionSearchResponse) []string {
	var out []string
	for _, a := range res.Results {
		out = append(out, a.Name)
	}
	return out
}

func resourceIDs(res api.AuthZENResourceSearchResponse) []string {
	var out []string
	for _, r := range res.Results {
		out = append(out, r.ID)
	}
	return out
}

// TestAuthZENSearchAction: the actions an agent may take on a resource, from its own and
// delegated grants, each allowed by a dry run in the request's context; "*" is answered as
// a pattern; callers see exactly what they see on an evaluation.
func TestAuthZENSearchAction(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t,
		agent.Permission{Resource: "mcp:github:*", Actions: []string{"write", "read"}},
		agent.Permission{Resource: "mcp:github:repos", Actions: []string{"admin"}},
		agent.Permission{Resource: "mcp:github:repos", Actions: []string{"audit"}, Constraints: &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}},
		agent.Permission{Resource: "mcp:slack:*", Actions: []string{"post"}},
		agent.Permission{Resource: "docs:*", Actions: []string{"*"}},
	)
	r := w.post(t, "/access/v1/search/action", w.keys["alice"], actionSearch(a.ID, "mcp:github", "repos", ""), "X-Request-ID", "s-1").actions(t)
	if got := actionNames(r); !slices.Equal(got, []string{"admin", "read", "write"}) || r.Page.NextToken != "" || r.Page.Count != 3 {
		t.Fatalf("actions on mcp:github:repos: %v %+v", got, r.Page)
	}
	if p := r.Results[0].Properties; p["pattern"] != false || p["grant"] != a.Permissions[1].ID {
		t.Fatalf("properties of admin: %v", p)
	}
	// The allowlisted grant holds for an address inside it, which the API-key caller reports.
	withIP := `{"subject":{"type":"agent","id":"` + a.ID + `"},"resource":{"type":"mcp:github","id":"repos"},"context":{"ip":"10.1.2.3"}}`
	r = w.post(t, "/access/v1/search/action", w.keys["alice"], withIP).actions(t)
	if got := actionNames(r); !slices.Equal(got, []string{"admin", "audit", "read", "write"}) {
		t.Fatalf("actions from 10.1.2.3: %v", got)
	}
	c, _ := r.Results[1].Properties["constraints"].(map[string]any)
	if ips, _ := c["ipAllowlist"].([]any); len(ips) != 1 {
		t.Fatalf("constraints of audit: %v", r.Results[1].Properties)
	}
	// Any action: answered as "*", a pattern.
	r = w.post(t, "/access/v1/search/action", w.keys["alice"], actionSearch(a.ID, "docs", "readme", "")).actions(t)
	if got := actionNames(r); !slices.Equal(got, []string{"*"}) || r.Results[0].Properties["pattern"] != true {
		t.Fatalf("actions on docs:readme: %+v", r.Results)
	}
	// Paging one at a time returns each once, in order.
	var all []string
	page := ""
	for range 10 {
		r = w.post(t, "/access/v1/search/action", w.keys["alice"], actionSearch(a.ID, "mcp:github", "repos", `,"page":{"limit":1`+page+`}`)).actions(t)
		all = append(all, actionNames(r)...)
		if r.Page.NextToken == "" {
			break
		}
		page = `,"token":"` + r.Page.NextToken + `"`
	}
	if !slices.Equal(all, []string{"admin", "read", "write"}) {
		t.Fatalf("paged: %v", all)
	}

	// The agent's own token: for itself only; another owner's key sees nothing.
	r = w.post(t, "/access/v1/search/action", a.Token, actionSearch(a.ID, "mcp:slack", "general", "")).actions(t)
	if got := actionNames(r); !slices.Equal(got, []string{"post"}) {
		t.Fatalf("by token: %v", got)
	}
	other := w.agent(t, agent.Permission{Resource: "x:y", Actions: []string{"z"}})
	if p := w.post(t, "/access/v1/search/action", other.Token, actionSearch(a.ID, "mcp:slack", "general", "")).problem(t); p.Status != http.StatusForbidden || p.Field != "subject.id" {
		t.Fatalf("another agent's token: %+v", p)
	}
	if r := w.post(t, "/access/v1/search/action", "kv_garbage", actionSearch(a.ID, "mcp:slack", "general", "")); r.status != http.StatusUnauthorized {
		t.Fatalf("an invalid token: %d %s", r.status, r.body)
	}
	for _, key := range []string{"bob", "acmeAdmin"} {
		if r := w.post(t, "/access/v1/search/action", w.keys[key], actionSearch(a.ID, "mcp:github", "repos", "")).actions(t); len(r.Results) != 0 {
			t.Fatalf("%s sees %v", key, r.Results)
		}
	}
	for path, body := range map[string]string{
		"/access/v1/search/action":   actionSearch(a.ID, "mcp:github", "repos", ""),
		"/access/v1/search/resource": resourceSearch(a.ID, "read", "mcp:github", ""),
		"/access/v1/search/subject":  subjectSearch("read", "mcp:github", "repos", ""),
	} {
		for _, bad := range []string{"", "kva_garbage", "kv_garbage"} {
			if r := w.post(t, path, bad, body); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%s with %q: %d", path, bad, r.status)
			}
		}
	}
}

// TestAuthZENSearchResource: the resources of a type an agent may act on, a pattern as its
// pattern narrowed to the type, one result per id, delegated grants with their chain.
func TestAuthZENSearchResource(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t,
		agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}},
		agent.Permission{Resource: "mcp:*:issues", Actions: []string{"read"}},
		agent.Permission{Resource: "mcp:github:repos:42", Actions: []string{"read", "write"}},
		agent.Permission{Resource: "mcp:github", Actions: []string{"read"}},
		agent.Permission{Resource: "mcp:slack:*", Actions: []string{"read"}},
		agent.Permission{Resource: "mcp:github:wiki", Actions: []string{"edit"}},
	)
	r := w.post(t, "/access/v1/search/resource", w.keys["alice"], resourceSearch(a.ID, "read", "mcp:github", "")).resources(t)
	if got := resourceIDs(r); !slices.Equal(got, []string{"*", "issues", "repos:42"}) {
		t.Fatalf("read under mcp:github: %v", got)
	}
	if r.Results[0].Type != "mcp:github" || r.Results[0].Properties["pattern"] != true || r.Results[1].Properties["pattern"] != false {
		t.Fatalf("results: %+v", r.Results)
	}

	// A delegated grant is answered with its chain, and goes when the delegation does.
	child := w.agent(t)
	ctx := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "alice"})
	d, err := w.srv.Kavach.Delegations().Delegate(ctx, api.DelegateRequest{FromAgentID: a.ID, ToAgentID: child.ID,
		Permissions: []agent.Permission{{Resource: "mcp:github:repos:*", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	r = w.post(t, "/access/v1/search/resource", w.keys["alice"], resourceSearch(child.ID, "read", "mcp:github", "")).resources(t)
	if got := resourceIDs(r); !slices.Equal(got, []string{"repos:*"}) || fmt.Sprint(r.Results[0].Properties["via"]) != fmt.Sprint([]string{d.ID}) {
		t.Fatalf("delegated: %+v", r.Results)
	}
	if _, err := w.srv.Kavach.Delegations().Revoke(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if r := w.post(t, "/access/v1/search/resource", w.keys["alice"], resourceSearch(child.ID, "read", "mcp:github", "")).resources(t); len(r.Results) != 0 {
		t.Fatalf("after revocation: %+v", r.Results)
	}

	// Requests that cannot be answered name the field.
	for body, field := range map[string]string{
		resourceSearch(a.ID, "read", "mcp:github", `,"page":{"limit":-1}`):              "page.limit",
		resourceSearch(a.ID, "read", "mcp:github", `,"page":{"token":"!!"}`):            "page.token",
		resourceSearch(a.ID, "", "mcp:github", ""):                                      "action.name",
		resourceSearch(a.ID, "read", "mcp:*", ""):                                       "resource.type",
		`{"subject":{"id":"x"},"action":{"name":"read"},"resource":{"type":"t"}}`:       "subject.type",
		`{"subject":{"type":"agent"},"action":{"name":"read"},"resource":{"type":"t"}}`: "subject.id",
		`{"subject":{"type":"agent","id":"` + a.ID + `"},"action":{"name":"read"}}`:     "resource",
	} {
		if p := w.post(t, "/access/v1/search/resource", w.keys["alice"], body).problem(t); p.Status != http.StatusBadRequest || p.Field != field {
			t.Errorf("%s: %+v, want 400 naming %s", body, p, field)
		}
	}
	if p := w.post(t, "/access/v1/search/action", w.keys["alice"], actionSearch(a.ID, "mcp:github", "*", "")).problem(t); p.Field != "resource.id" {
		t.Errorf("a pattern as the resource of an action search: %+v", p)
	}

	// A token altered in any way, or taken to another endpoint with the same body, is a 400
	// naming page.token, never a page that resumes somewhere else or claims the end.
	many := w.agent(t, agent.Permission{Resource: "doc:a", Actions: []string{"read"}}, agent.Permission{Resource: "doc:b", Actions: []string{"read"}},
		agent.Permission{Resource: "doc:c", Actions: []string{"read"}})
	first := w.post(t, "/access/v1/search/resource", w.keys["alice"], resourceSearch(many.ID, "read", "doc", `,"page":{"limit":1}`)).resources(t)
	token := first.Page.NextToken
	if token == "" {
		t.Fatalf("a first page of one: %+v", first)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, flip := range []byte{1, 0x20} {
			altered := slices.Clone(raw)
			altered[i] ^= flip
			body := resourceSearch(many.ID, "read", "doc", `,"page":{"limit":1,"token":"`+base64.RawURLEncoding.EncodeToString(altered)+`"}`)
			if p := w.post(t, "/access/v1/search/resource", w.keys["alice"], body).problem(t); p.Status != http.StatusBadRequest || p.Field != "page.token" {
				t.Fatalf("byte %d of the token altered: %+v", i, p)
			}
		}
	}
	same := `{"subject":{"type":"agent","id":"` + many.ID + `"},"action":{"name":"read"},"resource":{"type":"doc","id":"a"},"page":{"limit":1}}`
	subjectPage := w.post(t, "/access/v1/search/subject", w.keys["alice"], same).subjects(t)
	if subjectPage.Page.NextToken != "" {
		withToken := strings.Replace(same, `"limit":1`, `"limit":1,"token":"`+subjectPage.Page.NextToken+`"`, 1)
		if p := w.post(t, "/access/v1/search/resource", w.keys["alice"], withToken).problem(t); p.Field != "page.token" {
			t.Fatalf("a subject search's token at the resource search: %+v", p)
		}
	}
	withToken := strings.Replace(same, `"limit":1`, `"limit":1,"token":"`+token+`"`, 1)
	if p := w.post(t, "/access/v1/search/subject", w.keys["alice"], withToken).problem(t); p.Field != "page.token" {
		t.Fatalf("a resource search's token at the subject search: %+v", p)
	}
	second := w.post(t, "/access/v1/search/resource", w.keys["alice"], resourceSearch(many.ID, "read", "doc", `,"page":{"limit":1,"token":"`+token+`"}`)).resources(t)
	if got := resourceIDs(second); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("the second page: %v", got)
	}
}

// TestAuthZENSearchCustomDeny: a custom deny narrows the answer. A pattern is tried on its
// representative resource, each "*" segment replaced by "_".
func TestAuthZENSearchCustomDeny(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "kavach", "custom"), 0o755)
	rules := "package kavach.custom\n\nimport rego.v1\n\n" +
		"deny contains {\"code\": \"POLICY_DENIED\", \"reason\": \"no deletes\"} if input.action == \"delete\"\n\n" +
		"deny contains {\"code\": \"POLICY_DENIED\", \"reason\": \"secrets\"} if startswith(input.resource, \"mcp:github:secret\")\n\n" +
		"deny contains {\"code\": \"POLICY_DENIED\", \"reason\": \"placeholder\"} if input.resource == \"mcp:jira:_\"\n"
	if err := os.WriteFile(filepath.Join(dir, "kavach", "custom", "rules.rego"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k, err := kavach.Open(ctx, kavach.Config{Database: testserver.Backends[0].New(t), Policy: kavach.PolicyConfig{Dir: dir},
		Audit: kavach.AuditConfig{SigningKey: testserver.AuditKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	key, _, err := k.BootstrapAPIKey(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(k, service.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(svc.Handler())
	t.Cleanup(hs.Close)
	ts := hs.URL
	a, err := k.Agents().Create(kavach.WithActor(ctx, api.Root), api.CreateAgentRequest{TenantID: agent.DefaultTenant, OwnerID: "alice", Name: "x",
		Permissions: []agent.Permission{
			{Resource: "mcp:github:*", Actions: []string{"read", "delete"}},
			{Resource: "mcp:github:secret:*", Actions: []string{"read"}},
			{Resource: "mcp:github:public", Actions: []string{"read"}},
			{Resource: "mcp:jira:*", Actions: []string{"read"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, body string) response {
		return send(t, http.MethodPost, ts+path, key, body)
	}
	if got := actionNames(post("/access/v1/search/action", actionSearch(a.ID, "mcp:github", "repos", "")).actions(t)); !slices.Equal(got, []string{"read"}) {
		t.Fatalf("actions: %v (delete is denied by the custom rule)", got)
	}
	if got := resourceIDs(post("/access/v1/search/resource", resourceSearch(a.ID, "read", "mcp:github", "")).resources(t)); !slices.Equal(got, []string{"*", "public"}) {
		t.Fatalf("resources: %v (secret:* is denied by the custom rule; * is tried as mcp:github:_)", got)
	}
	if got := resourceIDs(post("/access/v1/search/resource", resourceSearch(a.ID, "read", "mcp:jira", "")).resources(t)); len(got) != 0 {
		t.Fatalf("a denied representative removes the pattern: %v", got)
	}
}

// TestAuthZENSearchPaging: over 1,000 grants, own and delegated through several
// delegations, pages of 100 return each resource exactly once, in order.
func TestAuthZENSearchPaging(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	ctx := kavach.WithActor(context.Background(), api.Root)
	mk := func(prefix string, n int) []agent.Permission {
		ps := make([]agent.Permission, n)
		for i := range ps {
			ps[i] = agent.Permission{Resource: fmt.Sprintf("res:%s:%03d", prefix, i), Actions: []string{"read"}}
		}
		return ps
	}
	create := func(ps []agent.Permission) *api.AgentWithToken {
		a, err := srv.Kavach.Agents().Create(ctx, api.CreateAgentRequest{TenantID: agent.DefaultTenant, OwnerID: "alice", Name: "p", Permissions: ps})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	child := create(mk("own", 250))
	want := map[string]bool{}
	for _, p := range child.Permissions {
		want[strings.TrimPrefix(p.Resource, "res:")] = true
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		parent := create([]agent.Permission{{Resource: "res:*", Actions: []string{"read"}}})
		ps := mk(name, 200)
		if _, err := srv.Kavach.Delegations().Delegate(ctx, api.DelegateRequest{FromAgentID: parent.ID, ToAgentID: child.ID, Permissions: ps}); err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			want[strings.TrimPrefix(p.Resource, "res:")] = true
		}
	}
	var got []string
	page, pages := "", 0
	for {
		r := send(t, http.MethodPost, srv.URL+"/access/v1/search/resource", srv.RootKey,
			resourceSearch(child.ID, "read", "res", `,"page":{"limit":100`+page+`}`)).resources(t)
		pages++
		if r.Page.Count != len(r.Results) || len(r.Results) > 100 {
			t.Fatalf("page %d: count %d, %d results", pages, r.Page.Count, len(r.Results))
		}
		got = append(got, resourceIDs(r)...)
		if r.Page.NextToken == "" {
			break
		}
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		page = `,"token":"` + r.Page.NextToken + `"`
	}
	if len(got) != len(want) || len(want) != 1050 || pages != 11 || !slices.IsSorted(got) {
		t.Fatalf("%d results in %d pages, want %d; sorted %v", len(got), pages, len(want), slices.IsSorted(got))
	}
	for i, id := range got {
		if !want[id] || (i > 0 && got[i-1] == id) {
			t.Fatalf("result %d: %q", i, id)
		}
	}
}

// engineDown is a facade whose decisions all fail closed.
type engineDown struct{ *kavach.Kavach }

func (engineDown) Authorize(context.Context, string, api.AuthorizeRequest, api.CallContext) (*api.Decision, error) {
	return &api.Decision{Code: api.EngineError, Reason: "internal error"}, nil
}

// TestAuthZENSearchFailsClosed: a search that cannot be completed is a 500 that says
// nothing of the cause, never a partial answer; bad input is still a 400.
func TestAuthZENSearchFailsClosed(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t, agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}})
	for name, url := range map[string]string{
		"keys unreachable": serveFacade(t, keysDown{w.srv.Kavach}),
		"engine failing":   serveFacade(t, engineDown{w.srv.Kavach}),
	} {
		for path, body := range map[string]string{
			"/access/v1/search/action":   actionSearch(a.ID, "mcp:github", "repos", ""),
			"/access/v1/search/resource": resourceSearch(a.ID, "read", "mcp:github", ""),
			"/access/v1/search/subject":  subjectSearch("read", "mcp:github", "repos", ""),
		} {
			r := send(t, http.MethodPost, url+path, w.keys["alice"], body)
			p := r.problem(t)
			if r.status != http.StatusInternalServerError || p.Detail != "internal error" || strings.Contains(string(r.body), "unreachable") {
				t.Fatalf("%s %s: %d %s", name, path, r.status, r.body)
			}
			if r := send(t, http.MethodPost, url+path, w.keys["alice"], `{"subject":{}}`); r.status != http.StatusBadRequest && name != "keys unreachable" {
				t.Fatalf("%s %s: bad input: %d", name, path, r.status)
			}
		}
	}
}

func subjectSearch(action, typ, id, page string) string {
	return `{"subject":{"type":"agent"},"action":{"name":"` + action + `"},"resource":{"type":"` + typ + `","id":"` + id + `"}` + page + `}`
}

func (r response) subjects(t *testing.T) api.AuthZENSubjectSearchResponse {
	t.Helper()
	return okAs[api.AuthZENSubjectSearchResponse](t, r)
}

func subjectIDs(res api.AuthZENSubjectSearchResponse) []string {
	var out []string
	for _, s := range res.Results {
		out = append(out, s.ID)
	}
	return out
}

// TestAuthZENSearchSubject: the agents within the caller's reach that may take the action
// on the resource, own or delegated, each allowed by a dry run; paged in id order.
func TestAuthZENSearchSubject(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	reader := w.agent(t, agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}})
	anyAction := w.agent(t, agent.Permission{Resource: "mcp:*", Actions: []string{"*"}})
	w.agent(t, agent.Permission{Resource: "mcp:slack:*", Actions: []string{"read"}})
	gated := w.agent(t, agent.Permission{Resource: "mcp:github:repos", Actions: []string{"read"}, Constraints: &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}})
	child := w.agent(t)
	ctx := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "alice"})
	d, err := w.srv.Kavach.Delegations().Delegate(ctx, api.DelegateRequest{FromAgentID: reader.ID, ToAgentID: child.ID,
		Permissions: []agent.Permission{{Resource: "mcp:github:repos", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	bobs, err := w.srv.Kavach.Agents().Create(kavach.WithActor(context.Background(), api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "bob"}),
		api.CreateAgentRequest{Name: "b", Permissions: []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{reader.ID, anyAction.ID, child.ID}
	slices.Sort(want)
	r := w.post(t, "/access/v1/search/subject", w.keys["alice"], subjectSearch("read", "mcp:github", "repos", "")).subjects(t)
	if got := subjectIDs(r); !slices.Equal(got, want) || r.Page.NextToken != "" {
		t.Fatalf("alice's readers: %v, want %v", got, want)
	}
	for _, s := range r.Results {
		if s.Type != "agent" || (s.ID == child.ID && fmt.Sprint(s.Properties["via"]) != fmt.Sprint([]string{d.ID})) {
			t.Fatalf("result %+v", s)
		}
	}
	// The admin sees bob's agent too; from inside the allowlist the gated one answers.
	body := `{"subject":{"type":"agent"},"action":{"name":"read"},"resource":{"type":"mcp:github","id":"repos"},"context":{"ip":"10.0.0.1"}}`
	adminKey := w.srv.Key(t, api.Actor{Role: api.RoleAdmin, TenantID: agent.DefaultTenant})
	got := subjectIDs(w.post(t, "/access/v1/search/subject", adminKey, body).subjects(t))
	all := append(slices.Clone(want), bobs.ID, gated.ID)
	slices.Sort(all)
	if !slices.Equal(got, all) {
		t.Fatalf("admin from 10.0.0.1: %v, want %v", got, all)
	}
	// Pages of one, each once.
	var paged []string
	page := ""
	for range 10 {
		r := w.post(t, "/access/v1/search/subject", adminKey, strings.Replace(body, `}}`, `},"page":{"limit":1`+page+`}}`, 1)).subjects(t)
		paged = append(paged, subjectIDs(r)...)
		if r.Page.NextToken == "" {
			break
		}
		page = `,"token":"` + r.Page.NextToken + `"`
	}
	if !slices.Equal(paged, all) {
		t.Fatalf("paged: %v, want %v", paged, all)
	}
	// Another tenant's admin finds none; an agent's token finds only itself.
	if got := subjectIDs(w.post(t, "/access/v1/search/subject", w.keys["acmeAdmin"], subjectSearch("read", "mcp:github", "repos", "")).subjects(t)); len(got) != 0 {
		t.Fatalf("acme's admin: %v", got)
	}
	if got := subjectIDs(w.post(t, "/access/v1/search/subject", reader.Token, subjectSearch("read", "mcp:github", "repos", "")).subjects(t)); !slices.Equal(got, []string{reader.ID}) {
		t.Fatalf("by token: %v", got)
	}
	if p := w.post(t, "/access/v1/search/subject", w.keys["alice"], `{"subject":{},"action":{"name":"read"},"resource":{"type":"a","id":"b"}}`).problem(t); p.Field != "subject.type" {
		t.Fatalf("a subject without its type: %+v", p)
	}
}
