package mcpgateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/adapters/internal/adaptertest"
	"github.com/kavachos/kavach-go/adapters/mcpgateway"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/spantest"
)

// recordingKavach is the embedded Kavach behind a TraceRecorder.
type recordingKavach struct {
	*adaptertest.TraceRecorder
	k *kavach.Kavach
}

func (r recordingKavach) Agents() api.Agents { return r.k.Agents() }

// forwarded is what the upstream MCP server received.
type forwarded struct {
	traceparent string
	body        string
}

// gateway serves the gateway on loopback in front of an upstream that answers every call
// and reports what reached it.
func gateway(t *testing.T) (url, token string, rec *adaptertest.TraceRecorder, got <-chan forwarded) {
	ctx := api.WithActor(context.Background(), api.Root)
	k, err := kavach.Open(ctx, kavach.Config{
		Database: "sqlite://" + filepath.Join(t.TempDir(), "kavach.db"),
		Audit:    kavach.AuditConfig{SigningKey: adaptertest.SigningKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	a, err := k.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "alice", Name: "mcp", Permissions: []agent.Permission{
		{Resource: "mcp:files:read_file", Actions: []string{"call"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan forwarded, 10)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- forwarded{traceparent: r.Header.Get("traceparent"), body: string(b)}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`)
	}))
	t.Cleanup(upstream.Close)
	rec = adaptertest.NewTraceRecorder(k)
	app := api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}
	gw, err := mcpgateway.New(mcpgateway.Config{
		Upstream: upstream.URL + "/mcp", Server: "files", Resource: "http://gateway.test/mcp",
		Kavach: recordingKavach{rec, k}, Actor: &app,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp", a.Token, rec, seen
}

const metaTrace = "0af7651916cd43dd8448eb211c80319c"

// callBody is a tools/call of read_file, with a _meta when meta is not empty.
func callBody(meta string) string {
	m := ""
	if meta != "" {
		m = `,"_meta":{"traceparent":"` + meta + `","tracestate":"vendor=1"}`
	}
	return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"a"}` + m + `}}`
}

// post sends body to the gateway as an MCP client would and expects a result.
func post(t *testing.T, url, token, body, traceparent string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), `"error"`) {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}

func traceOf(traceparent string) string {
	if parts := strings.Split(traceparent, "-"); len(parts) == 4 {
		return parts[1]
	}
	return ""
}

// TestGatewayContinuesTrace: a tools/call is authorized in the trace of its _meta, else
// of its traceparent header; the upstream receives the body with its _meta untouched and
// a traceparent header in the same trace.
func TestGatewayContinuesTrace(t *testing.T) {
	url, token, rec, got := gateway(t)
	metaParent := "00-" + metaTrace + "-b7ad6b7169203331-01"
	for _, c := range []struct {
		name, meta, header, want string
	}{
		{"Header", "", adaptertest.Traceparent, adaptertest.TraceID},
		{"Meta", metaParent, "", metaTrace},
		{"MetaBeforeHeader", metaParent, adaptertest.Traceparent, metaTrace},
		{"None", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := callBody(c.meta)
			post(t, url, token, body, c.header)
			up := <-got
			if up.body != body {
				t.Errorf("the upstream got %s, want the body as sent: %s", up.body, body)
			}
			if traceOf(up.traceparent) != c.want {
				t.Errorf("the upstream got traceparent %q, want trace %q", up.traceparent, c.want)
			}
			if d := decisionTrace(t, rec); d != c.want {
				t.Errorf("the call was authorized in trace %q, want %q", d, c.want)
			}
		})
	}
}

// TestGatewaySpan: with tracing on, the gateway's span is a child of the span named in
// _meta, and the upstream's traceparent names the gateway's span.
func TestGatewaySpan(t *testing.T) {
	exp := spantest.Record(t)
	url, token, _, got := gateway(t)
	post(t, url, token, callBody("00-"+metaTrace+"-b7ad6b7169203331-01"), "")
	up := <-got
	// The gateway ends its span once its handler returns, which may be just after the
	// client has read the answer.
	gatewaySpan := func() []tracetest.SpanStub {
		var out []tracetest.SpanStub
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID().String() == metaTrace && s.Name == "tools/call read_file" {
				out = append(out, s)
			}
		}
		return out
	}
	for deadline := time.Now().Add(5 * time.Second); len(gatewaySpan()) == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	var found bool
	for _, s := range gatewaySpan() {
		found = true
		if s.Parent.SpanID().String() != "b7ad6b7169203331" {
			t.Errorf("the gateway span's parent is %s, want the _meta span", s.Parent.SpanID())
		}
		if want := "00-" + metaTrace + "-" + s.SpanContext.SpanID().String() + "-01"; up.traceparent != want {
			t.Errorf("the upstream got traceparent %q, want the gateway span's %q", up.traceparent, want)
		}
	}
	if !found {
		var names []string
		for _, s := range exp.GetSpans() {
			names = append(names, s.Name+" in "+s.SpanContext.TraceID().String())
		}
		t.Fatalf("no gateway span in trace %s; spans: %v", metaTrace, names)
	}
}

// decisionTrace is the trace of the one decision the recorder saw since it was last
// drained.
func decisionTrace(t *testing.T, rec *adaptertest.TraceRecorder) string {
	t.Helper()
	ids := rec.Drain()
	if len(ids) != 1 {
		t.Fatalf("%d decisions, want 1", len(ids))
	}
	return ids[0]
}
