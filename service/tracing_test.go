package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/spantest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// spansOf returns the spans of one trace by name; a name that occurs more than once keeps
// its first.
func spansOf(exp *tracetest.InMemoryExporter, traceID string) map[string]tracetest.SpanStub {
	byName := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID().String() != traceID {
			continue
		}
		if _, seen := byName[s.Name]; !seen {
			byName[s.Name] = s
		}
	}
	return byName
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// TestTraceOfOneAuthorize follows one authorize request carrying a caller's traceparent
// through the server: every span is in the caller's trace and parented as the span tree
// in docs/observability.md shows, the decision span names the audit id, the response
// carries the server span's traceparent, and the audit event names the trace.
func TestTraceOfOneAuthorize(t *testing.T) {
	exp := spantest.Record(t)
	srv := testserver.StartWith(t, testserver.Backends[0].New(t), testserver.Options{SyncAudit: true, AuditMask: []string{"password"}})
	created := send(t, "POST", srv.URL+"/v1/agents", srv.RootKey,
		`{"ownerId":"o","name":"n","type":"service","permissions":[{"resource":"mcp:github:*","actions":["call"],"constraints":{"rateLimit":{"max":100,"window":"1m"}}}]}`)
	var agent struct{ ID, Token string }
	created.decode(t, &agent)

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	body := fmt.Sprintf(`{"agentId":%q,"action":"call","resource":"mcp:github:repos","arguments":{"password":"hunter2-in-the-clear","repo":"kavach"}}`, agent.ID)
	r := send(t, "POST", srv.URL+"/v1/authorize", srv.RootKey, body, "traceparent", "00-"+traceID+"-"+parentID+"-01",
		"tracestate", "vendor=opaque-state", "baggage", "user=alice")
	var d struct {
		Allowed bool
		AuditID string
	}
	r.decode(t, &d)
	if !d.Allowed || d.AuditID == "" {
		t.Fatalf("authorize: %d %s", r.status, r.body)
	}
	if tp := r.header.Get("traceparent"); !strings.HasPrefix(tp, "00-"+traceID+"-") || !strings.HasSuffix(tp, "-01") {
		t.Errorf("response traceparent %q, want one in trace %s", tp, traceID)
	}
	if r.header.Get("tracestate") != "" || r.header.Get("baggage") != "" {
		t.Errorf("the caller's tracestate or baggage echoed: %v", r.header)
	}

	spans := spansOf(exp, traceID)
	server := spans["POST /v1/authorize"]
	if !server.SpanContext.IsValid() {
		t.Fatalf("no server span in the caller's trace; spans: %v", names(spans))
	}
	if server.Parent.SpanID().String() != parentID || !server.Parent.IsRemote() || server.SpanKind != trace.SpanKindServer {
		t.Errorf("server span's parent %v (remote %v), kind %v: want the caller's span %s", server.Parent.SpanID(), server.Parent.IsRemote(), server.SpanKind, parentID)
	}
	for _, s := range spans {
		if s.SpanContext.TraceState().Len() > 0 {
			t.Errorf("span %s carries the caller's tracestate %q", s.Name, s.SpanContext.TraceState())
		}
	}
	if got := attr(server, "http.route"); got != "/v1/authorize" {
		t.Errorf("http.route = %q", got)
	}
	if got := attr(server, "http.response.status_code"); got != "200" {
		t.Errorf("http.response.status_code = %q", got)
	}
	for child, parent := range map[string]string{
		"kavach.authenticate":       "POST /v1/authorize",
		"kavach.authorize":          "POST /v1/authorize",
		"kavach.engine.decide":      "kavach.authorize",
		"kavach.engine.evaluate":    "kavach.engine.decide",
		"kavach.engine.obligations": "kavach.engine.decide",
		"kavach.audit.record":       "kavach.authorize",
	} {
		c, p := spans[child], spans[parent]
		if !c.SpanContext.IsValid() {
			t.Errorf("no %s span; spans: %v", child, names(spans))
			continue
		}
		if c.Parent.SpanID() != p.SpanContext.SpanID() {
			t.Errorf("%s's parent is %v, want %s (%v)", child, c.Parent.SpanID(), parent, p.SpanContext.SpanID())
		}
	}
	decision := spans["kavach.authorize"]
	for key, want := range map[string]string{
		"kavach.audit_id": d.AuditID, "kavach.agent_id": agent.ID, "kavach.decision.code": "ALLOWED",
		"kavach.action": "call", "kavach.resource": "mcp:github:repos",
	} {
		if got := attr(decision, key); got != want {
			t.Errorf("decision span %s = %q, want %q", key, got, want)
		}
	}
	if !strings.HasPrefix(attr(decision, "kavach.grant"), "perm_") {
		t.Errorf("decision span grant %q, want the permission that allowed", attr(decision, "kavach.grant"))
	}
	if attr(spans["kavach.engine.decide"], "kavach.policy.revision") == "" {
		t.Error("the engine span names no policy revision")
	}

	// The commit ran in a trace of its own, linked to the span that recorded the event.
	record := spans["kavach.audit.record"].SpanContext
	linked := false
	for _, s := range exp.GetSpans() {
		if s.Name != "kavach.audit.commit" {
			continue
		}
		for _, l := range s.Links {
			linked = linked || l.SpanContext.SpanID() == record.SpanID() && l.SpanContext.TraceID() == record.TraceID()
		}
	}
	if !linked {
		t.Error("no kavach.audit.commit span links the span that recorded the event")
	}

	// The ledger names the trace.
	if got := auditTraceID(t, srv, d.AuditID); got != traceID {
		t.Errorf("audit event %s names trace %q, want %s", d.AuditID, got, traceID)
	}

	// An agent authorizing itself: its token is looked up under the decision's span.
	r = send(t, "POST", srv.URL+"/v1/authorize/token", agent.Token, `{"action":"call","resource":"mcp:github:issues"}`,
		"traceparent", "00-"+strings.Repeat("ab", 16)+"-"+parentID+"-01")
	if r.status != 200 {
		t.Fatalf("authorize/token: %d %s", r.status, r.body)
	}
	spans = spansOf(exp, strings.Repeat("ab", 16))
	if lookup := spans["kavach.token.lookup"]; lookup.Parent.SpanID() != spans["kavach.authorize"].SpanContext.SpanID() || attr(lookup, "kavach.token.valid") != "true" {
		t.Errorf("token lookup span %+v; spans: %v", lookup.Parent, names(spans))
	}

	// Nothing secret in any span: not the key, not the token, not a masked argument.
	for _, s := range exp.GetSpans() {
		b, err := json.Marshal(struct {
			Name   string
			Attrs  any
			Events any
			Status any
		}{s.Name, s.Attributes, s.Events, s.Status})
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{srv.RootKey, agent.Token, "hunter2-in-the-clear"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("span %s carries a secret: %s", s.Name, b)
			}
		}
	}
}

// TestNoTraceWhenTracingIsOff: with no tracer installed, a request makes no span and
// answers no traceparent, but the audit event still names the caller's trace.
func TestNoTraceWhenTracingIsOff(t *testing.T) {
	srv := testserver.StartWith(t, testserver.Backends[0].New(t), testserver.Options{SyncAudit: true, Service: service.Config{}})
	created := send(t, "POST", srv.URL+"/v1/agents", srv.RootKey,
		`{"ownerId":"o","name":"n","type":"service","permissions":[{"resource":"mcp:*","actions":["call"]}]}`)
	var agent struct{ ID string }
	created.decode(t, &agent)
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	r := send(t, "POST", srv.URL+"/v1/authorize", srv.RootKey, fmt.Sprintf(`{"agentId":%q,"action":"call","resource":"mcp:x"}`, agent.ID),
		"traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
	if r.status != 200 || r.header.Get("traceparent") != "" {
		t.Fatalf("authorize: %d, traceparent %q", r.status, r.header.Get("traceparent"))
	}
	var d struct{ AuditID string }
	r.decode(t, &d)
	if got := auditTraceID(t, srv, d.AuditID); got != traceID {
		t.Errorf("audit event %s names trace %q, want %s", d.AuditID, got, traceID)
	}
}

// auditTraceID reads the trace id the ledger recorded for an event.
func auditTraceID(t *testing.T, srv *testserver.Server, id string) string {
	t.Helper()
	var page struct {
		Events []struct{ ID, TraceID string }
	}
	send(t, "GET", srv.URL+"/v1/audit?limit=100", srv.RootKey, "").decode(t, &page)
	for _, e := range page.Events {
		if e.ID == id {
			return e.TraceID
		}
	}
	t.Fatalf("audit event %s not found", id)
	return ""
}

func names(spans map[string]tracetest.SpanStub) []string {
	var ns []string
	for n := range spans {
		ns = append(ns, n)
	}
	return ns
}

// TestGoClientCarriesTheTrace: a decision asked through the Go client inside a trace is
// recorded in the ledger with that trace's id, end to end over HTTP.
func TestGoClientCarriesTheTrace(t *testing.T) {
	srv := testserver.StartWith(t, testserver.Backends[0].New(t), testserver.Options{SyncAudit: true})
	c := srv.Client(t, api.Actor{})
	ctx := context.Background()
	created, err := c.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "o", Name: "n",
		Permissions: []agent.Permission{{Resource: "mcp:*", Actions: []string{"call"}}}})
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := trace.TraceIDFromHex("1af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("c7ad6b7169203331")
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	d, err := c.Authorize(ctx, created.ID, api.AuthorizeRequest{Action: "call", Resource: "mcp:x"}, api.CallContext{})
	if err != nil || !d.Allowed {
		t.Fatalf("authorize: %+v, %v", d, err)
	}
	if got := auditTraceID(t, srv, d.AuditID); got != tid.String() {
		t.Errorf("audit event %s names trace %q, want %s", d.AuditID, got, tid)
	}
}

// TestCallersCannotMintSpanNames: made-up methods and paths under a mount, whatever the
// mount answers (redirects, 405s), leave span names bounded: the route's pattern, or a
// mount's declared endpoint.
func TestCallersCannotMintSpanNames(t *testing.T) {
	exp := spantest.Record(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /m/known", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /m/agents/{id}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/m/known", http.StatusSeeOther)
	})
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{
		Mounts: []service.Mount{{Paths: []string{"/m/*"}, Handler: mux, Endpoints: []string{"/m/known"}}},
	})
	for i := range 20 {
		send(t, "GET", fmt.Sprintf("%s/m/agents/random-%d", srv.URL, i), "", "")
		send(t, "PUT", fmt.Sprintf("%s/m/agents/put-%d", srv.URL, i), "", "")
		send(t, fmt.Sprintf("FOO%d", i), srv.URL+"/v1/authorize", "", "")
		send(t, "GET", fmt.Sprintf("%s/m//x-%d", srv.URL, i), "", "")
	}
	send(t, "GET", srv.URL+"/m/known", "", "")
	names := map[string]bool{}
	for _, s := range exp.GetSpans() {
		if s.SpanKind == trace.SpanKindServer {
			names[s.Name] = true
		}
		if strings.HasPrefix(attr(s, "http.request.method"), "FOO") {
			t.Errorf("a made-up method is an attribute: %s", attr(s, "http.request.method"))
		}
	}
	want := map[string]bool{"GET /m/*": true, "PUT /m/*": true, "HTTP /v1/authorize": true, "GET /m/known": true}
	for n := range names {
		if !want[n] {
			t.Errorf("span name %q minted by a caller; names: %v", n, names)
		}
	}
	if !names["GET /m/known"] || !names["HTTP /v1/authorize"] {
		t.Errorf("span names %v: want the declared endpoint and the unknown method's HTTP", names)
	}
}
