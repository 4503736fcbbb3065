package grpc_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	grpcgo "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	kavach "github.com/kavachos/kavach-go"
	kavachgrpc "github.com/kavachos/kavach-go/adapters/grpc"
	"github.com/kavachos/kavach-go/adapters/internal/adaptertest"
	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// traceSeen reports, in response headers, the trace and span of the handler's context and
// the audit id of the decision that let the call through.
type traceSeen struct{ *health.Server }

func (s traceSeen) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	d, ok := kavachgrpc.DecisionFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no decision in the handler's context")
	}
	sc := trace.SpanContextFromContext(ctx)
	_ = grpcgo.SetHeader(ctx, metadata.Pairs("x-trace-id", adaptertest.TraceIDOf(ctx), "x-span-id", sc.SpanID().String(), "x-audit-id", d.AuditID))
	return s.Server.Check(ctx, req)
}

// traceWorld serves the health service behind the interceptors, with opts (a stats
// handler) on the server.
func traceWorld(t *testing.T, opts ...grpcgo.ServerOption) (*adaptertest.TraceRecorder, healthpb.HealthClient, string) {
	ctx := api.WithActor(context.Background(), api.Root)
	k, err := kavach.Open(ctx, kavach.Config{
		Database: "sqlite://" + filepath.Join(t.TempDir(), "kavach.db"),
		Audit:    kavach.AuditConfig{SigningKey: adaptertest.SigningKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	a, err := k.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "alice", Name: "grpc", Permissions: []agent.Permission{
		{Resource: "grpc:grpc.health.v1.Health:Check", Actions: []string{"call"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	app := api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}
	rec := adaptertest.NewTraceRecorder(k)
	ic, err := kavachgrpc.New(kavachgrpc.Config{Config: nethttp.Config{Authorizer: rec, Actor: &app}})
	if err != nil {
		t.Fatal(err)
	}
	s := grpcgo.NewServer(append(opts, grpcgo.UnaryInterceptor(ic.Unary()), grpcgo.StreamInterceptor(ic.Stream()))...)
	healthpb.RegisterHealthServer(s, traceSeen{health.NewServer()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	conn, err := grpcgo.NewClient(ln.Addr().String(), grpcgo.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return rec, healthpb.NewHealthClient(conn), a.Token
}

const callerSpanID = "00f067aa0ba902b7" // the span id in adaptertest.Traceparent

// TestTraceFromMetadata: a call carrying traceparent metadata is decided in the caller's
// trace (so its audit event names it), allowed or refused, and its handler runs in it.
func TestTraceFromMetadata(t *testing.T) {
	rec, c, token := traceWorld(t)
	var hdr metadata.MD
	ctx := withToken(token, "traceparent", adaptertest.Traceparent, "tracestate", "vendor=1")
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}, grpcgo.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := first(hdr, "x-trace-id"); got != adaptertest.TraceID {
		t.Errorf("the handler ran in trace %q, want %s", got, adaptertest.TraceID)
	}
	if got := rec.TraceOf(t, first(hdr, "x-audit-id")); got != adaptertest.TraceID {
		t.Errorf("the decision's was asked in trace %q, want %s", got, adaptertest.TraceID)
	}
	// A stream the agent may not open: refused when it opens, the error arriving with the
	// first receive.
	s, err := c.Watch(withToken(token, "traceparent", adaptertest.Traceparent), &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = s.Recv()
	}
	info := refusal(t, err, codes.PermissionDenied, api.NoPermission)
	if got := rec.TraceOf(t, info.Metadata["auditId"]); got != adaptertest.TraceID {
		t.Errorf("the refused call's was asked in trace %q, want %s", got, adaptertest.TraceID)
	}
}

// TestTraceWithOtelgrpc: with otelgrpc's stats handler on the server, the call's server
// span is a child of the received span, the handler runs in that server span, and the
// decision is recorded in the same trace.
func TestTraceWithOtelgrpc(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	handler := otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})))
	rec, c, token := traceWorld(t, grpcgo.StatsHandler(handler))

	var hdr metadata.MD
	if _, err := c.Check(withToken(token, "traceparent", adaptertest.Traceparent), &healthpb.HealthCheckRequest{}, grpcgo.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	var server *tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.SpanKind == trace.SpanKindServer && s.SpanContext.TraceID().String() == adaptertest.TraceID {
			server = &s
		}
	}
	if server == nil {
		t.Fatalf("no server span in the caller's trace: %v", exp.GetSpans())
	}
	if got := server.Parent.SpanID().String(); got != callerSpanID {
		t.Errorf("the server span's parent is %s, want the caller's %s", got, callerSpanID)
	}
	if got := first(hdr, "x-span-id"); got != server.SpanContext.SpanID().String() {
		t.Errorf("the handler ran in span %s, want the server span %s", got, server.SpanContext.SpanID())
	}
	if got := rec.TraceOf(t, first(hdr, "x-audit-id")); got != adaptertest.TraceID {
		t.Errorf("the decision's was asked in trace %q, want %s", got, adaptertest.TraceID)
	}
}

func first(md metadata.MD, key string) string {
	if vs := md.Get(key); len(vs) > 0 {
		return vs[0]
	}
	return ""
}
