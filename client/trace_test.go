package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/client"
)

// headerServer is a loopback server that answers every request with body and status and
// records the traceparent headers it received.
type headerServer struct {
	mu     sync.Mutex
	parent []string
	url    string
}

func newHeaderServer(t *testing.T, status int, body string) *headerServer {
	h := &headerServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h.mu.Lock()
		h.parent = append(h.parent, r.Header.Get("traceparent"))
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *headerServer) traceparents() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.parent...)
}

// callerSpan is the span context of a caller's span, as an application's tracing or an
// incoming request would have put it into ctx.
func callerSpan(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	return trace.ContextWithRemoteSpanContext(context.Background(), sc), sc
}

const decisionJSON = `{"allowed":true,"code":"ALLOWED","auditId":"a1"}`

// TestTraceContextSent: a call whose ctx carries a span sends that trace's traceparent; a
// call without one sends none.
func TestTraceContextSent(t *testing.T) {
	t.Parallel()
	srv := newHeaderServer(t, http.StatusOK, decisionJSON)
	c, err := client.New(srv.url, "kva_test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, sc := callerSpan(t)
	req := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}
	if _, err := c.Authorize(ctx, "agt_1", req, api.CallContext{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authorize(context.Background(), "agt_1", req, api.CallContext{}); err != nil {
		t.Fatal(err)
	}
	got := srv.traceparents()
	if len(got) != 2 {
		t.Fatalf("%d requests reached the server", len(got))
	}
	if parts := strings.Split(got[0], "-"); len(parts) != 4 || parts[1] != sc.TraceID().String() {
		t.Errorf("traceparent %q, want trace %s", got[0], sc.TraceID())
	}
	if got[1] != "" {
		t.Errorf("a call outside any trace sent traceparent %q", got[1])
	}
}

// TestClientSpan: with a tracer provider, each request is a client span, child of the
// caller's, whose id is the parent the server is told; its attributes name the method,
// the URL without its query, and the status.
func TestClientSpan(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	ok := newHeaderServer(t, http.StatusOK, `{"events":[]}`)
	c, err := client.New(ok.url, "kva_test", client.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	ctx, sc := callerSpan(t)
	if _, err := c.Audit().Query(ctx, api.AuditQuery{AgentID: "agt_1", Cursor: "secret-cursor"}); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.SpanKind != trace.SpanKindClient || s.Name != http.MethodGet {
		t.Errorf("span %q of kind %v", s.Name, s.SpanKind)
	}
	if s.Parent.SpanID() != sc.SpanID() || s.SpanContext.TraceID() != sc.TraceID() {
		t.Errorf("span parent %v in trace %v, want %v in %v", s.Parent.SpanID(), s.SpanContext.TraceID(), sc.SpanID(), sc.TraceID())
	}
	want := "00-" + sc.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"
	if got := ok.traceparents(); len(got) != 1 || got[0] != want {
		t.Errorf("server got traceparent %q, want %q", got, want)
	}
	attrs := attribute.NewSet(s.Attributes...)
	for k, v := range map[attribute.Key]any{
		"http.request.method":       "GET",
		"url.full":                  ok.url + "/v1/audit",
		"http.response.status_code": int64(200),
		"server.address":            "127.0.0.1",
	} {
		if got, found := attrs.Value(k); !found || got.AsInterface() != v {
			t.Errorf("%s = %v, want %v", k, got.AsInterface(), v)
		}
	}
	for _, kv := range s.Attributes {
		if strings.Contains(kv.Value.Emit(), "secret-cursor") || strings.Contains(kv.Value.Emit(), "kva_test") {
			t.Errorf("attribute %s carries a query value or the key: %s", kv.Key, kv.Value.Emit())
		}
	}

	// A refused request is a failed client span with its status.
	exp.Reset()
	refused := newHeaderServer(t, http.StatusForbidden, `{"status":403,"code":"FORBIDDEN","detail":"no"}`)
	c2, _ := client.New(refused.url, "kva_test", client.WithTracerProvider(tp))
	if _, err := c2.Authorize(ctx, "agt_1", api.AuthorizeRequest{Action: "read", Resource: "r"}, api.CallContext{}); err == nil {
		t.Fatal("a 403 was not an error")
	}
	spans = exp.GetSpans()
	if len(spans) != 1 || spans[0].Status.Code != codes.Error {
		t.Fatalf("spans %+v", spans)
	}
	if set := attribute.NewSet(spans[0].Attributes...); !set.HasValue("http.response.status_code") {
		t.Error("no status code attribute")
	} else if v, _ := set.Value("http.response.status_code"); v.AsInt64() != 403 {
		t.Errorf("status code attribute %v", v.AsInterface())
	}
}
