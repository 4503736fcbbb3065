package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// authzenWorld is a real service over SQLite with alice's agents, the keys of a few
// callers, and audit written before each decision returns.
type authzenWorld struct {
	srv  *testserver.Server
	keys map[string]string
}

func newAuthZENWorld(t *testing.T) *authzenWorld {
	t.Helper()
	srv := testserver.StartWith(t, testserver.Backends[0].New(t), testserver.Options{SyncAudit: true})
	w := &authzenWorld{srv: srv, keys: map[string]string{"root": srv.RootKey}}
	rootCtx := kavach.WithActor(context.Background(), api.Root)
	if _, err := srv.Kavach.Tenants().Create(rootCtx, api.CreateTenantRequest{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]api.CreateAPIKeyRequest{
		"alice": {Role: api.RoleUser, OwnerID: "alice"}, "bob": {Role: api.RoleUser, OwnerID: "bob"},
		"app": {Role: api.RoleApp}, "acmeAdmin": {Role: api.RoleAdmin, TenantID: "acme"},
	} {
		k, err := srv.Kavach.APIKeys().Create(rootCtx, req)
		if err != nil {
			t.Fatal(err)
		}
		w.keys[name] = k.Key
	}
	return w
}

// agent creates an agent of alice's with ps.
func (w *authzenWorld) agent(t *testing.T, ps ...agent.Permission) *api.AgentWithToken {
	t.Helper()
	ctx := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "alice"})
	a, err := w.srv.Kavach.Agents().Create(ctx, api.CreateAgentRequest{Name: "authzen", Permissions: ps})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// event reads one audit event by agent and id.
func (w *authzenWorld) events(t *testing.T, agentID string) map[string]agent.AuditEvent {
	t.Helper()
	out := map[string]agent.AuditEvent{}
	q := api.AuditQuery{AgentID: agentID, Limit: api.MaxLimit}
	for {
		page, err := w.srv.Kavach.Audit().Query(kavach.WithActor(context.Background(), api.Root), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			if e.Kind == "decision" {
				out[e.ID] = e
			}
		}
		if page.NextCursor == "" {
			return out
		}
		q.Cursor = page.NextCursor
	}
}

func (w *authzenWorld) post(t *testing.T, path, bearer, body string, headers ...string) response {
	t.Helper()
	return send(t, http.MethodPost, w.srv.URL+path, bearer, body, headers...)
}

// okAs decodes a 200 answer as a T; any other status fails the test.
func okAs[T any](t *testing.T, r response) T {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var v T
	r.decode(t, &v)
	return v
}

// decision decodes an evaluation's answer.
func (r response) decision(t *testing.T) api.AuthZENDecision {
	t.Helper()
	return okAs[api.AuthZENDecision](t, r)
}

// evaluations decodes an evaluations answer.
func (r response) evaluations(t *testing.T) []api.AuthZENDecision {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var raw map[string]json.RawMessage
	r.decode(t, &raw)
	if _, ok := raw["decision"]; ok {
		t.Fatalf("an evaluations answer carries a top-level decision: %s", r.body)
	}
	var out api.AuthZENEvaluationsResponse
	r.decode(t, &out)
	return out.Evaluations
}

// TestAuthZENDiscovery: the metadata names this server and the endpoints it serves, and
// only those; it needs no credential.
func TestAuthZENDiscovery(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	r := send(t, http.MethodGet, w.srv.URL+"/.well-known/authzen-configuration", "", "", "X-Request-ID", "req-1")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Request-ID") != "req-1" {
		t.Fatalf("status %d, headers %v: %s", r.status, r.header, r.body)
	}
	var got map[string]string
	r.decode(t, &got)
	want := map[string]string{
		"policy_decision_point":       w.srv.URL,
		"access_evaluation_endpoint":  w.srv.URL + "/access/v1/evaluation",
		"access_evaluations_endpoint": w.srv.URL + "/access/v1/evaluations",
		"search_subject_endpoint":     w.srv.URL + "/access/v1/search/subject",
		"search_resource_endpoint":    w.srv.URL + "/access/v1/search/resource",
		"search_action_endpoint":      w.srv.URL + "/access/v1/search/action",
	}
	if len(got) != len(want) {
		t.Fatalf("metadata %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// The advertised endpoints answer.
	a := w.agent(t, agent.Permission{Resource: "todo:1", Actions: []string{"can_read"}})
	body := `{"subject":{"type":"agent","id":"` + a.ID + `"},"resource":{"type":"todo","id":"1"},"action":{"name":"can_read"}}`
	if d := send(t, http.MethodPost, got["access_evaluation_endpoint"], w.keys["app"], body).decision(t); !d.Decision {
		t.Fatalf("denied: %+v", d.Context)
	}
}

// TestAuthZENEvaluationAnswer: the decision's context carries Kavach's code, the reasons
// keyed by status, the audit id and the grant; a dry run is audited as a check; the
// event's code is the one answered.
func TestAuthZENEvaluationAnswer(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t,
		agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}},
		agent.Permission{Resource: "deploy:prod", Actions: []string{"run"}, Constraints: &agent.Constraints{Approval: &agent.Approval{Required: true}}},
		agent.Permission{Resource: "repo:kavach", Actions: []string{"push"}, Constraints: &agent.Constraints{ArgumentPatterns: map[string]string{"branch": "dev|staging"}}},
	)
	eval := func(action, typ, id, extra string) string {
		return `{"subject":{"type":"agent","id":"` + a.ID + `"},"action":{"name":"` + action + `"` + extra +
			`},"resource":{"type":"` + typ + `","id":"` + id + `"}}`
	}
	cases := []struct {
		name, body string
		allowed    bool
		code       api.DecisionCode
		status     string
		result     string
	}{
		{"allowed", eval("read", "mcp:github", "repos", ""), true, api.Allowed, "200", "allowed"},
		{"id with colons", eval("read", "mcp", "github:repos:42", ""), true, api.Allowed, "200", "allowed"},
		{"no permission", eval("write", "mcp:github", "repos", ""), false, api.NoPermission, "403", "denied"},
		{"arguments allowed", eval("push", "repo", "kavach", `,"properties":{"arguments":{"branch":"dev"}}`), true, api.Allowed, "200", "allowed"},
		{"arguments refused", eval("push", "repo", "kavach", `,"properties":{"arguments":{"branch":"main"}}`), false, api.ArgumentNotAllowed, "403", "denied"},
		{"approval", eval("run", "deploy", "prod", ""), false, api.ApprovalRequired, "403", "approval_required"},
		{"dry run", strings.TrimSuffix(eval("read", "mcp:github", "repos", ""), "}") + `,"options":{"dryRun":true}}`, true, api.Allowed, "200", "check"},
	}
	for _, c := range cases {
		d := w.post(t, "/access/v1/evaluation", w.keys["alice"], c.body).decision(t)
		ctx := d.Context
		if d.Decision != c.allowed || ctx == nil || ctx.Code != c.code || ctx.AuditID == "" ||
			ctx.ReasonAdmin[c.status] == "" || ctx.ReasonUser[c.status] == "" {
			t.Fatalf("%s: %+v %+v", c.name, d, ctx)
		}
		if c.allowed && ctx.Grant == "" || c.code == api.ApprovalRequired && ctx.ApprovalID == "" {
			t.Errorf("%s: grant or approval id missing: %+v", c.name, ctx)
		}
		ev, ok := w.events(t, a.ID)[ctx.AuditID]
		if !ok || ev.Code != string(c.code) || ev.Result != c.result || ev.Action == "" {
			t.Errorf("%s: audit event %+v (found %v), want code %s result %s", c.name, ev, ok, c.code, c.result)
		}
		if c.name == "id with colons" && ev.Resource != "mcp:github:repos:42" {
			t.Errorf("resource audited as %q", ev.Resource)
		}
		if c.name == "arguments refused" && ev.Arguments["branch"] != "main" {
			t.Errorf("arguments audited as %v", ev.Arguments)
		}
	}
}

// TestAuthZENAgentToken: an agent may ask about itself with its own token, not about
// another agent (403); its own context.ip is ignored for the connection's address. A token
// that is not valid: TestAuthZENInvalidAgentToken.
func TestAuthZENAgentToken(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t,
		agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}},
		agent.Permission{Resource: "net:inside", Actions: []string{"read"}, Constraints: &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}},
	)
	other := w.agent(t, agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}})
	body := func(id, typ, rid, ctx string) string {
		return `{"subject":{"type":"agent","id":"` + id + `"},"action":{"name":"read"},"resource":{"type":"` + typ +
			`","id":"` + rid + `"}` + ctx + `}`
	}
	if d := w.post(t, "/access/v1/evaluation", a.Token, body(a.ID, "mcp:github", "repos", "")).decision(t); !d.Decision || d.Context.AuditID == "" {
		t.Fatalf("itself: %+v", d.Context)
	}
	r := w.post(t, "/access/v1/evaluation", a.Token, body(other.ID, "mcp:github", "repos", ""))
	if p := r.problem(t); r.status != http.StatusForbidden || p.Field != "subject.id" {
		t.Fatalf("another agent: %d %+v", r.status, p)
	}
	ctxIP := `,"context":{"ip":"10.1.2.3"}`
	d := w.post(t, "/access/v1/evaluation", a.Token, body(a.ID, "net", "inside", ctxIP)).decision(t)
	if d.Decision || d.Context.Code != api.IPNotAllowed {
		t.Fatalf("an agent claimed an address: %+v", d.Context)
	}
	if ev := w.events(t, a.ID)[d.Context.AuditID]; ev.IP != "127.0.0.1" {
		t.Errorf("audited ip %q, want the connection's", ev.IP)
	}
	// An app reports the end client's address, as on /v1/authorize.
	d = w.post(t, "/access/v1/evaluation", w.keys["app"], body(a.ID, "net", "inside", ctxIP)).decision(t)
	if !d.Decision {
		t.Fatalf("app with context.ip: %+v", d.Context)
	}
}

// TestAuthZENIsolation: a caller asking about an agent outside its reach is answered as
// /v1/authorize answers it, AGENT_NOT_FOUND, audited, before anything is charged.
func TestAuthZENIsolation(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t, agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}})
	body := `{"subject":{"type":"agent","id":"` + a.ID + `"},"action":{"name":"read"},"resource":{"type":"mcp:github","id":"repos"}}`
	for _, caller := range []string{"bob", "acmeAdmin"} {
		d := w.post(t, "/access/v1/evaluation", w.keys[caller], body).decision(t)
		if d.Decision || d.Context.Code != api.AgentNotFound || d.Context.Grant != "" {
			t.Fatalf("%s: %+v", caller, d.Context)
		}
		var v1 api.Decision
		w.post(t, "/v1/authorize", w.keys[caller], `{"agentId":"`+a.ID+`","action":"read","resource":"mcp:github:repos"}`).decode(t, &v1)
		if v1.Code != d.Context.Code || v1.Allowed != d.Decision {
			t.Fatalf("%s: /v1/authorize says %+v", caller, v1)
		}
		batch := `{"subject":{"type":"agent","id":"` + a.ID + `"},"action":{"name":"read"},"evaluations":[{"resource":{"type":"mcp:github","id":"repos"}},{"resource":{"type":"mcp:github","id":"issues"}}]}`
		for _, e := range w.post(t, "/access/v1/evaluations", w.keys[caller], batch).evaluations(t) {
			if e.Decision || e.Context.Code != api.AgentNotFound {
				t.Fatalf("%s batch: %+v", caller, e.Context)
			}
		}
	}
	for _, caller := range []string{"alice", "app", "root"} {
		if d := w.post(t, "/access/v1/evaluation", w.keys[caller], body).decision(t); !d.Decision {
			t.Fatalf("%s: %+v", caller, d.Context)
		}
	}
}

// TestAuthZENRequestErrors: a request that cannot be judged is a problem naming the field;
// a missing credential is 401 with WWW-Authenticate; members Kavach does not know are
// ignored, as the specification requires.
func TestAuthZENRequestErrors(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t, agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}})
	subj := `"subject":{"type":"agent","id":"` + a.ID + `"}`
	ok := `{` + subj + `,"action":{"name":"read"},"resource":{"type":"mcp:github","id":"repos"}}`
	key := w.keys["alice"]
	cases := []struct {
		name, path, bearer, body string
		status                   int
		field                    string
	}{
		{"no credential", "/access/v1/evaluation", "", ok, 401, ""},
		{"unknown key", "/access/v1/evaluation", "kva_" + strings.Repeat("A", 49), ok, 401, ""},
		{"garbage key", "/access/v1/evaluations", "kva_garbage", "{}", 401, ""},
		{"garbage key before a bad body", "/access/v1/evaluation", "garbage", "{", 401, ""},
		{"no body", "/access/v1/evaluation", key, "", 400, "body"},
		{"malformed", "/access/v1/evaluation", key, `{"subject":`, 400, "body"},
		{"not an object", "/access/v1/evaluation", key, `[]`, 400, "body"},
		{"no subject", "/access/v1/evaluation", key, `{"action":{"name":"read"},"resource":{"type":"a","id":"b"}}`, 400, "subject"},
		{"user subject", "/access/v1/evaluation", key, `{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"read"},"resource":{"type":"a","id":"b"}}`, 400, "subject.type"},
		{"no subject id", "/access/v1/evaluation", key, `{"subject":{"type":"agent"},"action":{"name":"read"},"resource":{"type":"a","id":"b"}}`, 400, "subject.id"},
		{"subject of the wrong kind", "/access/v1/evaluation", key, `{"subject":"agt_1","action":{"name":"read"},"resource":{"type":"a","id":"b"}}`, 400, "subject"},
		{"no action", "/access/v1/evaluation", key, `{` + subj + `,"resource":{"type":"a","id":"b"}}`, 400, "action.name"},
		{"action with a space", "/access/v1/evaluation", key, `{` + subj + `,"action":{"name":"re ad"},"resource":{"type":"a","id":"b"}}`, 400, "action.name"},
		{"no resource id", "/access/v1/evaluation", key, `{` + subj + `,"action":{"name":"read"},"resource":{"type":"a"}}`, 400, "resource.id"},
		{"wildcard resource", "/access/v1/evaluation", key, `{` + subj + `,"action":{"name":"read"},"resource":{"type":"mcp","id":"*"}}`, 400, "resource.id"},
		{"empty segment", "/access/v1/evaluation", key, `{` + subj + `,"action":{"name":"read"},"resource":{"type":"mcp:","id":"x"}}`, 400, "resource.type"},
		{"arguments not an object", "/access/v1/evaluation", key, `{` + subj + `,"action":{"name":"read","properties":{"arguments":[1]}},"resource":{"type":"a","id":"b"}}`, 400, "action.properties.arguments"},
		{"bad ip", "/access/v1/evaluation", key, `{` + subj + `,"action":{"name":"read"},"resource":{"type":"a","id":"b"},"context":{"ip":"nowhere"}}`, 400, "context.ip"},
		{"unknown semantic", "/access/v1/evaluations", key, `{` + subj + `,"action":{"name":"read"},"options":{"evaluations_semantic":"first"},"evaluations":[{"resource":{"type":"a","id":"b"}}]}`, 400, "options.evaluations_semantic"},
		{"unknown semantic, protobuf spelling", "/access/v1/evaluations", key, `{` + subj + `,"action":{"name":"read"},"options":{"evaluationsSemantic":"first"},"evaluations":[{"resource":{"type":"a","id":"b"}}]}`, 400, "options.evaluationsSemantic"},
		{"an unknown semantic beside a good alias", "/access/v1/evaluations", key, `{` + subj + `,"action":{"name":"read"},"options":{"evaluations_semantic":"first","evaluationsSemantic":"deny_on_first_deny"},"evaluations":[{"resource":{"type":"a","id":"b"}}]}`, 400, "options.evaluations_semantic"},
		{"both spellings, disagreeing", "/access/v1/evaluations", key, `{` + subj + `,"action":{"name":"read"},"options":{"evaluations_semantic":"execute_all","evaluationsSemantic":"deny_on_first_deny"},"evaluations":[{"resource":{"type":"a","id":"b"}}]}`, 400, "options.evaluationsSemantic"},
	}
	for _, c := range cases {
		r := w.post(t, c.path, c.bearer, c.body)
		p := r.problem(t)
		if r.status != c.status || p.Field != c.field {
			t.Errorf("%s: %d field %q, want %d %q: %s", c.name, r.status, p.Field, c.status, c.field, r.body)
		}
		if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", c.name)
		}
	}
	r := w.post(t, "/access/v1/evaluation", key, ok, "Content-Type", "text/plain")
	if p := r.problem(t); r.status != http.StatusBadRequest || p.Field != "Content-Type" {
		t.Errorf("text/plain: %d %+v", r.status, p)
	}
	// Unknown members anywhere are ignored.
	extra := `{"future":1,` + subj[:len(subj)-1] + `,"properties":{"x":1},"v":2},"action":{"name":"read","w":[]},` +
		`"resource":{"type":"mcp:github","id":"repos","properties":{"y":{}}},"context":{"time":"1985-10-26T01:22-07:00","z":null},"options":{"o":true}}`
	if d := w.post(t, "/access/v1/evaluation", key, extra).decision(t); !d.Decision {
		t.Fatalf("unknown members: %+v", d.Context)
	}
	// An item that cannot be a call is answered in place (§7.2.1), and not judged; the
	// items around it are.
	for _, c := range []struct{ name, body, field string }{
		{"item without a resource", `{` + subj + `,"action":{"name":"read"},"evaluations":[{"resource":{"type":"mcp:github","id":"repos"}},{},{"resource":{"type":"mcp:github","id":"repos"}}]}`, "resource"},
		{"item's own subject", `{"action":{"name":"read"},"resource":{"type":"mcp:github","id":"repos"},"evaluations":[{},{"subject":{"type":"user","id":"x"}},{}],"subject":` + subj[len(`"subject":`):] + `}`, "evaluations[1].subject.type"},
		{"item's resource id with a space", `{` + subj + `,"action":{"name":"read"},"evaluations":[{"resource":{"type":"mcp:github","id":"repos"}},{"resource":{"type":"mcp:github","id":"my repo"}},{"resource":{"type":"mcp:github","id":"repos"}}]}`, "evaluations[1].resource.id"},
	} {
		got := w.post(t, "/access/v1/evaluations", key, c.body).evaluations(t)
		if len(got) != 3 || !got[0].Decision || !got[2].Decision || got[1].Decision || got[1].Context.Error == nil ||
			got[1].Context.Error.Field != c.field || got[1].Context.Error.Status != 400 || got[1].Context.AuditID != "" {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
	// A well-formed item Kavach refuses as input is answered in place, and not judged.
	batch := `{` + subj + `,"evaluations":[{"action":{"name":"read"},"resource":{"type":"mcp:github","id":"repos"}},` +
		`{"action":{"name":"re ad"},"resource":{"type":"mcp:github","id":"repos"}}]}`
	got := w.post(t, "/access/v1/evaluations", key, batch).evaluations(t)
	if len(got) != 2 || !got[0].Decision || got[1].Decision || got[1].Context.Error == nil ||
		got[1].Context.Error.Status != 400 || got[1].Context.Error.Field != "evaluations[1].action.name" || got[1].Context.AuditID != "" {
		t.Fatalf("item error: %s", mustJSON(got))
	}
}

// TestAuthZENDiscoveryForwardedProto: the PDP identifier says https for a plain-HTTP
// connection only when a trusted proxy forwarded the request with X-Forwarded-Proto; a
// client that connects directly cannot make the metadata name another scheme.
func TestAuthZENDiscoveryForwardedProto(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		proxies []string
		proto   string
		scheme  string
	}{
		{"no proxy configured", nil, "https", "http"},
		{"the peer is not a trusted proxy", []string{"10.0.0.0/8"}, "https", "http"},
		{"the peer is a trusted proxy", []string{"127.0.0.1/32"}, "https", "https"},
		{"a trusted proxy appended http to the client's https", []string{"127.0.0.1/32"}, "https, http", "http"},
		{"a trusted proxy appended https", []string{"127.0.0.1/32"}, "http,https", "https"},
	} {
		srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{TrustedProxies: c.proxies})
		r := send(t, http.MethodGet, srv.URL+"/.well-known/authzen-configuration", "", "", "X-Forwarded-Proto", c.proto)
		var got api.AuthZENConfiguration
		r.decode(t, &got)
		host := strings.TrimPrefix(srv.URL, "http://")
		if got.PolicyDecisionPoint != c.scheme+"://"+host || got.AccessEvaluationEndpoint != c.scheme+"://"+host+"/access/v1/evaluation" {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
}
