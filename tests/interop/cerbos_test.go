package interop

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cerbos/cerbos-sdk-go/authzen"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// pdp is a Kavach server with one agent of alice's that may read and write under
// mcp:github:* and read mcp:slack:general.
type pdp struct {
	srv   *testserver.Server
	agent *api.AgentWithToken
	key   string // an app key of the default tenant
}

func startPDP(t *testing.T) *pdp {
	t.Helper()
	srv := testserver.StartWith(t, testserver.Backends[0].New(t), testserver.Options{SyncAudit: true})
	ctx := kavach.WithActor(context.Background(), api.Root)
	a, err := srv.Kavach.Agents().Create(ctx, api.CreateAgentRequest{
		TenantID: agent.DefaultTenant, OwnerID: "alice", Name: "researcher",
		Permissions: []agent.Permission{
			{Resource: "mcp:github:*", Actions: []string{"read", "write"}},
			{Resource: "mcp:slack:general", Actions: []string{"read"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &pdp{srv: srv, agent: a, key: srv.Key(t, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant})}
}

// client is Cerbos's AuthZEN HTTP client pointed at the server, sending bearer.
func (p *pdp) client(t *testing.T, bearer string) *authzen.Client {
	t.Helper()
	c, err := authzen.NewHTTPClient(p.srv.URL, authzen.WithHeaders(map[string]string{"Authorization": "Bearer " + bearer}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// auditEvent reads the ledger's event id.
func (p *pdp) auditEvent(t *testing.T, id string) agent.AuditEvent {
	t.Helper()
	ctx := kavach.WithActor(context.Background(), api.Root)
	page, err := p.srv.Kavach.Audit().Query(ctx, api.AuditQuery{AgentID: p.agent.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Events {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("audit event %q is not in the ledger (%d events)", id, len(page.Events))
	return agent.AuditEvent{}
}

// TestCerbosClientDiscoversAndEvaluates: the client reads the discovery document and asks
// single and batched questions; each answer is Kavach's decision, audited.
func TestCerbosClientDiscoversAndEvaluates(t *testing.T) {
	t.Parallel()
	p := startPDP(t)
	c := p.client(t, p.key)
	ctx := context.Background()

	md, err := c.GetMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.GetPolicyDecisionPoint() != p.srv.URL || md.GetAccessEvaluationEndpoint() != p.srv.URL+"/access/v1/evaluation" ||
		md.GetAccessEvaluationsEndpoint() != p.srv.URL+"/access/v1/evaluations" {
		t.Fatalf("metadata: %v", md)
	}

	subject := authzen.NewSubject("agent", p.agent.ID)
	for _, tc := range []struct {
		typ, id, action string
		allowed         bool
		code            api.DecisionCode
	}{
		{"mcp:github", "repos", "read", true, api.Allowed},
		{"mcp:github", "issues", "write", true, api.Allowed},
		{"mcp:github", "repos", "delete", false, api.NoPermission},
		{"mcp:slack", "general", "read", true, api.Allowed},
		{"mcp:slack", "random", "read", false, api.NoPermission},
	} {
		res, err := c.AccessEvaluation(ctx, subject, authzen.NewResource(tc.typ, tc.id), authzen.NewAction(tc.action),
			authzen.NewContext().WithProperty("arguments", map[string]any{"q": "kavach"}))
		if err != nil {
			t.Fatalf("%s %s:%s: %v", tc.action, tc.typ, tc.id, err)
		}
		code, _ := res.GetContextValue("code")
		auditID, _ := res.GetContextValue("auditId")
		if res.IsAllowed() != tc.allowed || code.GetStringValue() != string(tc.code) || auditID.GetStringValue() == "" {
			t.Fatalf("%s %s:%s: %v", tc.action, tc.typ, tc.id, res)
		}
		if !tc.allowed {
			if reason, _ := res.GetContextValue("reason_admin"); reason.GetStructValue() == nil {
				t.Fatalf("%s %s:%s: a deny without reason_admin: %v", tc.action, tc.typ, tc.id, res)
			}
		}
		e := p.auditEvent(t, auditID.GetStringValue())
		if e.Resource != tc.typ+":"+tc.id || e.Action != tc.action || (e.Result == "allowed") != tc.allowed {
			t.Fatalf("%s %s:%s audited as %+v", tc.action, tc.typ, tc.id, e)
		}
	}

	allowed, err := c.IsAllowed(ctx, subject, authzen.NewResource("mcp:github", "pulls"), "read", nil)
	if err != nil || !allowed {
		t.Fatalf("IsAllowed read mcp:github:pulls = %v, %v", allowed, err)
	}

	// A batch with top-level defaults and per-item overrides, answered in request order.
	items := []authzen.BatchEvaluation{
		{Resource: authzen.NewResource("mcp:github", "a")},
		{Resource: authzen.NewResource("mcp:slack", "random")},
		{Resource: authzen.NewResource("mcp:github", "b"), Action: authzen.NewAction("write")},
		{Resource: authzen.NewResource("mcp:github", "c"), Action: authzen.NewAction("delete")},
	}
	batch, err := c.AccessEvaluations(ctx, &authzen.BatchEvaluationRequest{
		DefaultSubject: subject, DefaultAction: authzen.NewAction("read"), Evaluations: items,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(batch.Decisions()); got != "[true false true false]" {
		t.Fatalf("batch decisions %s: %v", got, batch)
	}
	for i := range batch.Count() {
		res, _ := batch.GetEvaluation(i)
		id, _ := res.GetContextValue("auditId")
		p.auditEvent(t, id.GetStringValue())
	}
}

// TestCerbosClientBatchSemantics: the client's short-circuit semantics stop where the
// specification says.
func TestCerbosClientBatchSemantics(t *testing.T) {
	t.Parallel()
	p := startPDP(t)
	c := p.client(t, p.key)
	ctx := context.Background()
	subject := authzen.NewSubject("agent", p.agent.ID)
	items := []authzen.BatchEvaluation{
		{Resource: authzen.NewResource("mcp:slack", "random")}, // deny
		{Resource: authzen.NewResource("mcp:github", "a")},     // permit
		{Resource: authzen.NewResource("mcp:slack", "other")},  // deny
	}
	for _, tc := range []struct {
		semantic authzen.EvaluationSemantics
		want     string
	}{
		{authzen.ExecuteAll, "[false true false]"},
		{authzen.DenyOnFirstDeny, "[false]"},
		{authzen.PermitOnFirstPermit, "[false true]"},
	} {
		batch, err := c.AccessEvaluations(ctx, &authzen.BatchEvaluationRequest{
			DefaultSubject: subject, DefaultAction: authzen.NewAction("read"), Semantics: tc.semantic, Evaluations: items,
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.semantic, err)
		}
		if got := fmt.Sprint(batch.Decisions()); got != tc.want {
			t.Fatalf("%s: decisions %s, want %s", tc.semantic, got, tc.want)
		}
	}
}

// TestCerbosClientEnforces: a tool server whose enforcement point is Cerbos's client asks
// Kavach before each call. Allowed calls run; denied calls, and calls when the decision
// point refuses the enforcement point's credentials, never reach the tool.
func TestCerbosClientEnforces(t *testing.T) {
	t.Parallel()
	p := startPDP(t)

	var ran atomic.Int64
	tool := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran.Add(1)
		io.WriteString(w, "done")
	})
	// enforce guards h: the agent is named by its own kv_ token, the tool by the path
	// /{server}/{tool}, the action by the method.
	enforce := func(c *authzen.Client, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			server, tool, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
			action := map[string]string{http.MethodGet: "read", http.MethodPost: "write", http.MethodDelete: "delete"}[r.Method]
			allowed, err := c.IsAllowed(r.Context(), authzen.NewSubject("agent", r.Header.Get("X-Agent-ID")),
				authzen.NewResource("mcp:"+server, tool), action, nil)
			if err != nil || !allowed {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		})
	}

	call := func(t *testing.T, base, method, path string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("X-Agent-ID", p.agent.ID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// The agent asks about itself with its own token, as an MCP server's PEP would.
	guarded := httptest.NewServer(enforce(p.client(t, p.agent.Token), tool))
	defer guarded.Close()
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/github/repos", http.StatusOK},
		{http.MethodPost, "/github/issues", http.StatusOK},
		{http.MethodDelete, "/github/repos", http.StatusForbidden},
		{http.MethodGet, "/slack/general", http.StatusOK},
		{http.MethodPost, "/slack/general", http.StatusForbidden},
		{http.MethodGet, "/jira/tickets", http.StatusForbidden},
	} {
		if got := call(t, guarded.URL, tc.method, tc.path); got != tc.want {
			t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
	if ran.Load() != 3 {
		t.Fatalf("the tool ran %d times, want 3 (the allowed calls)", ran.Load())
	}
	ctx := kavach.WithActor(context.Background(), api.Root)
	denied, err := p.srv.Kavach.Audit().Query(ctx, api.AuditQuery{AgentID: p.agent.ID, Result: "denied"})
	if err != nil || len(denied.Events) != 3 {
		t.Fatalf("denied events in the ledger: %d, %v", len(denied.Events), err)
	}

	// After a revoke the agent's own question is answered with a deny that says why.
	if _, err := p.srv.Kavach.Agents().Revoke(ctx, p.agent.ID); err != nil {
		t.Fatal(err)
	}
	if got := call(t, guarded.URL, http.MethodGet, "/github/repos"); got != http.StatusForbidden {
		t.Fatalf("after the revoke: %d", got)
	}
	res, err := p.client(t, p.agent.Token).AccessEvaluation(context.Background(), authzen.NewSubject("agent", p.agent.ID),
		authzen.NewResource("mcp:github", "repos"), authzen.NewAction("read"), nil)
	if code, _ := res.GetContextValue("code"); err != nil || res.IsAllowed() || code.GetStringValue() != string(api.AgentRevoked) {
		t.Fatalf("a revoked agent's evaluation: %v, %v", res, err)
	}

	// A token that is not an agent's is refused with 401, and the enforcement point
	// fails closed.
	stranger := httptest.NewServer(enforce(p.client(t, "kv_notatoken"), tool))
	defer stranger.Close()
	if got := call(t, stranger.URL, http.MethodGet, "/github/repos"); got != http.StatusForbidden {
		t.Fatalf("with a bad token: %d", got)
	}
	_, err = p.client(t, "kv_notatoken").IsAllowed(context.Background(), authzen.NewSubject("agent", p.agent.ID),
		authzen.NewResource("mcp:github", "repos"), "read", nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("a bad token's evaluation: %v", err)
	}
	if ran.Load() != 3 {
		t.Fatalf("the tool ran %d times after the revoke", ran.Load())
	}
}

// TestCerbosClientCannotAskForAnother: an agent's token asks only about that agent; the
// client sees 403 and the enforcement point fails closed.
func TestCerbosClientCannotAskForAnother(t *testing.T) {
	t.Parallel()
	p := startPDP(t)
	ctx := kavach.WithActor(context.Background(), api.Root)
	other, err := p.srv.Kavach.Agents().Create(ctx, api.CreateAgentRequest{
		TenantID: agent.DefaultTenant, OwnerID: "bob", Name: "other",
		Permissions: []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := p.client(t, other.Token)
	allowed, err := c.IsAllowed(context.Background(), authzen.NewSubject("agent", p.agent.ID), authzen.NewResource("mcp:github", "repos"), "read", nil)
	if allowed || err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("asking about another agent: %v, %v", allowed, err)
	}
}
