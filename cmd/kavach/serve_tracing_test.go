package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/kavachos/kavach-go/api"
)

// otlpReceiver keeps the spans an OTLP exporter sends it, decoded with the official OTLP
// protobuf package, over OTLP/HTTP or OTLP/gRPC.
type otlpReceiver struct {
	coltrace.UnimplementedTraceServiceServer
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
}

func (o *otlpReceiver) keep(req *coltrace.ExportTraceServiceRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				o.services = append(o.services, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
}

func (o *otlpReceiver) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	o.keep(req)
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "not an OTLP traces export", http.StatusNotFound)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var req coltrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.keep(&req)
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// ofTrace returns the spans received in a trace, by name.
func (o *otlpReceiver) ofTrace(traceID string) map[string]*tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	byName := map[string]*tracepb.Span{}
	for _, s := range o.spans {
		if hex.EncodeToString(s.TraceId) == traceID {
			byName[s.Name] = s
		}
	}
	return byName
}

func spanAttr(s *tracepb.Span, key string) *commonpb.AnyValue {
	for _, a := range s.GetAttributes() {
		if a.Key == key {
			return a.Value
		}
	}
	return nil
}

// TestServeExportsTracesOverOTLP runs `kavach serve` configured only by the standard OTEL_*
// variables against a receiver this test starts, over OTLP/HTTP and OTLP/gRPC: one
// authorize request carrying a traceparent arrives as spans of that trace, parented
// correctly, with the audit id on the decision span, the configured service name, and no
// token or key in any attribute.
func TestServeExportsTracesOverOTLP(t *testing.T) {
	for _, protocol := range []string{"http/protobuf", "grpc"} {
		t.Run(strings.ReplaceAll(protocol, "/", "-"), func(t *testing.T) {
			t.Parallel()
			recv := &otlpReceiver{}
			var endpoint string
			if protocol == "grpc" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				gs := grpc.NewServer()
				coltrace.RegisterTraceServiceServer(gs, recv)
				go gs.Serve(ln)
				t.Cleanup(gs.Stop)
				endpoint = "http://" + ln.Addr().String()
			} else {
				hs := httptest.NewServer(recv)
				t.Cleanup(hs.Close)
				endpoint = hs.URL
			}
			s := startServe(t, t.TempDir(), []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint,
				"OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol, "OTEL_SERVICE_NAME=kavach-under-test"})
			key := bootstrapKey(t, s.log())
			var created api.AgentWithToken
			if code := call(t, "POST", s.url+"/v1/agents", key,
				`{"ownerId":"u","name":"n","permissions":[{"resource":"mcp:github:*","actions":["read"]}]}`, &created); code != http.StatusCreated {
				t.Fatalf("create agent: %d", code)
			}
			const traceID, parentID = "5bf92f3577b34da6a3ce929d0e0e4736", "10f067aa0ba902b7"
			req, _ := http.NewRequest("POST", s.url+"/v1/authorize",
				strings.NewReader(fmt.Sprintf(`{"agentId":%q,"action":"read","resource":"mcp:github:repos"}`, created.ID)))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var d api.Decision
			if resp.StatusCode != 200 || json.Unmarshal(b, &d) != nil || !d.Allowed {
				t.Fatalf("authorize: %d %s", resp.StatusCode, b)
			}

			var spans map[string]*tracepb.Span
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if spans = recv.ofTrace(traceID); spans["kavach.authorize"] != nil && spans["POST /v1/authorize"] != nil {
					break
				}
			}
			server, decision := spans["POST /v1/authorize"], spans["kavach.authorize"]
			if server == nil || decision == nil {
				t.Fatalf("spans of trace %s received: %v\n%s", traceID, keysOf(spans), s.log())
			}
			if hex.EncodeToString(server.ParentSpanId) != parentID || server.Kind != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("server span parent %x kind %v, want the caller's %s", server.ParentSpanId, server.Kind, parentID)
			}
			if !bytes.Equal(decision.ParentSpanId, server.SpanId) {
				t.Errorf("the decision span's parent is %x, want the server span %x", decision.ParentSpanId, server.SpanId)
			}
			if engine := spans["kavach.engine.decide"]; engine == nil || !bytes.Equal(engine.ParentSpanId, decision.SpanId) {
				t.Errorf("engine span %v is not the decision's child", engine)
			}
			if got := spanAttr(decision, "kavach.audit_id").GetStringValue(); got != d.AuditID {
				t.Errorf("decision span audit id %q, want %q", got, d.AuditID)
			}
			recv.mu.Lock()
			services, all := recv.services, recv.spans
			recv.mu.Unlock()
			if len(services) == 0 || services[0] != "kavach-under-test" {
				t.Errorf("service.name %v, want kavach-under-test", services)
			}
			for _, sp := range all {
				text := sp.String()
				if strings.Contains(text, key) || strings.Contains(text, created.Token) {
					t.Errorf("span %s carries a credential", sp.Name)
				}
			}
			s.stop(t)
		})
	}
}

func keysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
