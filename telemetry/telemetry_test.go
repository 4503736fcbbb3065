package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/internal/tracecontext"
)

func TestEnabledOnlyWhenConfigured(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		cfg  Config
		want bool
	}{
		{"nothing set", nil, Config{}, false},
		{"endpoint flag", nil, Config{Endpoint: "localhost:4318"}, true},
		{"base endpoint variable", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, Config{}, true},
		{"traces endpoint variable", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, Config{}, true},
		{"exporter otlp", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, Config{}, true},
		{"exporter none wins", map[string]string{"OTEL_TRACES_EXPORTER": "none"}, Config{Endpoint: "c:4318"}, false},
		{"SDK disabled wins", map[string]string{"OTEL_SDK_DISABLED": "true"}, Config{Endpoint: "c:4318"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"} {
				t.Setenv(k, c.env[k])
			}
			if got := c.cfg.Enabled(); got != c.want {
				t.Errorf("Enabled() = %v, want %v", got, c.want)
			}
		})
	}
}

func TestSetupRefusesBadSettings(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "")
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Endpoint: "c:4318", Sampler: "sometimes"}, `sampler "sometimes"`},
		{Config{Endpoint: "c:4318", Sampler: "traceidratio", SamplerArg: "1.5"}, `sampler argument "1.5"`},
		{Config{Endpoint: "c:4318", Sampler: "parentbased_traceidratio", SamplerArg: "half"}, `sampler argument "half"`},
		{Config{Endpoint: "c:4318", Protocol: "carrier-pigeon"}, `OTLP protocol "carrier-pigeon"`},
	} {
		_, err := Setup(context.Background(), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Setup(%+v) = %v, want an error naming %s", c.cfg, err, c.want)
		}
		if Enabled() {
			t.Fatal("a refused configuration turned tracing on")
		}
	}
}

func TestEndpointURL(t *testing.T) {
	for in, want := range map[string]string{
		"collector:4318":            "http://collector:4318/v1/traces",
		"https://collector:4318/":   "https://collector:4318/v1/traces",
		"http://collector/otlp":     "http://collector/otlp/v1/traces",
		"https://collector.example": "https://collector.example/v1/traces",
	} {
		if got := endpointURL(in, "/v1/traces"); got != want {
			t.Errorf("endpointURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStartCostsNothingWhileOff: with tracing off, opening a span allocates nothing and
// hands back the caller's own context.
func TestStartCostsNothingWhileOff(t *testing.T) {
	Uninstall()
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		c, span := Start(ctx, "kavach.test")
		span.End()
		if c != ctx || span.IsRecording() {
			t.Fatal("a span while tracing is off")
		}
	}); n != 0 {
		t.Errorf("Start allocates %v times per call while tracing is off", n)
	}
}

func TestExtractAndInject(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	Install(tp)
	t.Cleanup(func() { Uninstall(); _ = tp.Shutdown(context.Background()) })

	in := http.Header{}
	if ctx := tracecontext.Extract(context.Background(), propagation.HeaderCarrier(in)); TraceID(ctx) != "" {
		t.Fatal("a trace from no headers")
	}
	in.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	ctx := tracecontext.Extract(context.Background(), propagation.HeaderCarrier(in))
	if got := TraceID(ctx); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("TraceID = %q", got)
	}
	ctx, span := Start(ctx, "child")
	out := http.Header{}
	tracecontext.Inject(ctx, propagation.HeaderCarrier(out))
	span.End()
	tp2 := out.Get("traceparent")
	if !strings.HasPrefix(tp2, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || strings.Contains(tp2, "00f067aa0ba902b7") {
		t.Errorf("injected traceparent %q: want the same trace and the child's span id", tp2)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("spans %+v: want one child of the extracted span", spans)
	}
}

// TestSampledOutTraceCostsNoSpans: under a sampled-out local span, Start hands back that
// span instead of asking the SDK for another that would be dropped too; a new root, and a
// span under a remote parent, are still the SDK's to judge.
func TestSampledOutTraceCostsNoSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	Install(tp)
	t.Cleanup(func() { Uninstall(); _ = tp.Shutdown(context.Background()) })

	ctx, root := Start(context.Background(), "root")
	if root.IsRecording() || !root.SpanContext().IsValid() {
		t.Fatal("the root should be a valid span that was not sampled")
	}
	if _, child := Start(ctx, "child"); child.SpanContext().SpanID() != root.SpanContext().SpanID() {
		t.Error("a child of a sampled-out local span is a new span")
	}
	if _, fresh := Start(ctx, "fresh", trace.WithNewRoot()); fresh.SpanContext().TraceID() == root.SpanContext().TraceID() {
		t.Error("a new root under a sampled-out span was not judged afresh")
	}
	remote := trace.ContextWithRemoteSpanContext(context.Background(), root.SpanContext())
	if _, s := Start(remote, "server"); s.SpanContext().SpanID() == root.SpanContext().SpanID() {
		t.Error("a span under a remote parent was not left to the SDK")
	}
}

// TestTracesVariablesWinOverGeneralOnes: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and
// _TRACES_PROTOCOL win over the general endpoint and protocol, however those were given.
func TestTracesVariablesWinOverGeneralOnes(t *testing.T) {
	var general, specific atomic.Int64
	receiver := func(n *atomic.Int64) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
		t.Cleanup(s.Close)
		return s
	}
	g, sp := receiver(&general), receiver(&specific)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", sp.URL+"/v1/traces")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_TRACES_SAMPLER", "")
	shutdown, err := Setup(context.Background(), Config{Endpoint: g.URL, Protocol: "grpc"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(Uninstall)
	_, span := Start(context.Background(), "kavach.test")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if specific.Load() == 0 || general.Load() != 0 {
		t.Errorf("exports: traces endpoint %d, general endpoint %d; want all to the traces endpoint", specific.Load(), general.Load())
	}
}
