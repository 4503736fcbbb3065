// Package telemetry is Kavach's OpenTelemetry tracing: one place that configures the
// tracer provider the standard way (OTEL_* variables, or the matching flags) and one
// Start that every part of Kavach opens its spans with. Tracing is off unless configured,
// and while it is off Start neither allocates nor touches the SDK.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/internal/tracecontext"
)

// InstrumentationName names Kavach's tracer (the instrumentation scope of its spans), the
// same as its client's and adapters'.
const InstrumentationName = tracecontext.InstrumentationName

// DefaultServiceName is the service.name of Kavach's spans unless OTEL_SERVICE_NAME or the
// configuration names another.
const DefaultServiceName = "kavach"

// Protocols an OTLP exporter speaks, as OTEL_EXPORTER_OTLP_PROTOCOL spells them.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Config selects where traces go. Every empty field falls back to its OTEL_* variable, then
// to the SDK's default; tracing is on only when an OTLP endpoint is named (Endpoint,
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or OTEL_TRACES_EXPORTER
// is "otlp", and OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off whatever
// else is set. The exporter's other settings (headers, timeout, TLS) are the SDK's own
// OTEL_EXPORTER_OTLP_* variables.
type Config struct {
	Endpoint string // OTEL_EXPORTER_OTLP_ENDPOINT: a URL, or host:port for gRPC
	Protocol string // OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" (default) or "grpc"
	// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and _TRACES_PROTOCOL, when set, win over both.)
	ServiceName string // OTEL_SERVICE_NAME (default "kavach")
	Sampler     string // OTEL_TRACES_SAMPLER (default parentbased_always_on)
	SamplerArg  string // OTEL_TRACES_SAMPLER_ARG: the ratio of the traceidratio samplers
	Version     string // service.version of the resource
	// Logger receives the SDK's errors, such as a collector that cannot be reached, as
	// warnings; nil leaves them to the SDK's default (Go's log package).
	Logger *slog.Logger
}

// Enabled reports whether c, read with the environment, turns tracing on.
func (c Config) Enabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER"))) {
	case "none":
		return false
	case "otlp":
		return true
	}
	return c.Endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" ||
		os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs a tracer provider exporting over OTLP as c says, and W3C trace context as
// the propagator, process-wide. It returns a shutdown that flushes spans still queued. When
// c does not turn tracing on, Setup installs nothing and its shutdown does nothing.
func Setup(ctx context.Context, c Config) (shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	if !c.Enabled() {
		return none, nil
	}
	sampler, err := c.sampler()
	if err != nil {
		return none, err
	}
	exp, err := c.exporter(ctx)
	if err != nil {
		return none, err
	}
	name := firstOf(c.ServiceName, os.Getenv("OTEL_SERVICE_NAME"), DefaultServiceName)
	attrs := []attribute.KeyValue{semconv.ServiceName(name)}
	if c.Version != "" {
		attrs = append(attrs, semconv.ServiceVersion(c.Version))
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return none, fmt.Errorf("telemetry: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithSampler(sampler),
		sdktrace.WithResource(res),
	)
	if c.Logger != nil {
		log := c.Logger
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "error", err) }))
	}
	Install(tp)
	return tp.Shutdown, nil
}

func (c Config) exporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	// The traces-only variables win over the general ones, and over Endpoint and Protocol,
	// which stand for the general ones (OTLP exporter specification): the SDK reads
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT itself when no endpoint is given to it.
	protocol := strings.ToLower(firstOf(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), c.Protocol,
		os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), ProtocolHTTP))
	endpoint := c.Endpoint
	if os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		endpoint = ""
	}
	switch protocol {
	case ProtocolHTTP, "http":
		var opts []otlptracehttp.Option
		if endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(endpointURL(endpoint, "/v1/traces")))
		}
		return otlptracehttp.New(ctx, opts...)
	case ProtocolGRPC:
		var opts []otlptracegrpc.Option
		if endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(endpointURL(endpoint, "")))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	return nil, fmt.Errorf("telemetry: OTLP protocol %q: must be %q or %q", protocol, ProtocolHTTP, ProtocolGRPC)
}

// endpointURL makes a base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT gives it, into the
// traces URL: a bare host:port is plain HTTP, and the OTLP/HTTP signal path is appended
// as the specification says for the base variable.
func endpointURL(endpoint, path string) string {
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint
	}
	if path != "" {
		endpoint = strings.TrimRight(endpoint, "/") + path
	}
	return endpoint
}

// sampler reads the OTEL_TRACES_SAMPLER names; unlike the SDK, an unknown name or a bad
// ratio is an error at start rather than a log line and a silent default.
func (c Config) sampler() (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(firstOf(c.Sampler, os.Getenv("OTEL_TRACES_SAMPLER"), "parentbased_always_on")))
	arg := strings.TrimSpace(firstOf(c.SamplerArg, os.Getenv("OTEL_TRACES_SAMPLER_ARG")))
	ratio := func() (sdktrace.Sampler, error) {
		if arg == "" {
			return sdktrace.TraceIDRatioBased(1), nil
		}
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil || v < 0 || v > 1 {
			return nil, fmt.Errorf("telemetry: sampler argument %q: must be a ratio from 0 to 1", arg)
		}
		return sdktrace.TraceIDRatioBased(v), nil
	}
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return ratio()
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		s, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(s), nil
	}
	return nil, errors.New("telemetry: sampler " + strconv.Quote(name) + ": must be always_on, always_off, traceidratio, " +
		"parentbased_always_on, parentbased_always_off or parentbased_traceidratio")
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Install makes tp the process's tracer provider and W3C trace context its propagator, and
// turns Kavach's spans on. Setup calls it; an application embedding Kavach with a provider
// of its own, or a test with an in-memory exporter, may call it instead.
func Install(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(tracecontext.Propagator)
	current.Store(&tracerOf{tp: tp, tracer: tp.Tracer(InstrumentationName)})
}

// Uninstall turns Kavach's spans off again; the global provider is left as it is.
func Uninstall() { current.Store(nil) }

type tracerOf struct {
	tp     trace.TracerProvider
	tracer trace.Tracer
}

var current atomic.Pointer[tracerOf]

// Enabled reports whether Kavach's spans are on.
func Enabled() bool { return current.Load() != nil }

// noSpan is what Start returns while tracing is off: a span that records nothing.
var noSpan = trace.SpanFromContext(context.Background())

// Start opens a span as a child of ctx's. While tracing is off it returns ctx unchanged
// and a span that records nothing, without allocating.
func Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	t := current.Load()
	if t == nil {
		return ctx, noSpan
	}
	if parent := trace.SpanFromContext(ctx); !parent.IsRecording() {
		// A local span that was not sampled: its children would not be either, under any
		// of the standard samplers (a ratio sampler judges the same trace id alike), so
		// the sampled-out part of a trace costs no spans. A remote parent's flags are the
		// caller's, and a new root is judged afresh: those go to the SDK.
		if sc := parent.SpanContext(); sc.IsValid() && !sc.IsRemote() {
			if cfg := trace.NewSpanStartConfig(opts...); !cfg.NewRoot() {
				return ctx, parent
			}
		}
	}
	return t.tracer.Start(ctx, name, opts...)
}

// Failed marks span as failed with a fixed description, when err is not nil, and records
// nothing of err's text: for failures whose text may quote what a caller sent (a policy
// evaluation's error can quote its input, masked arguments included).
func Failed(span trace.Span, err error, description string) {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, description)
	}
}

// Fail marks span as failed with err, when err is not nil. err's text becomes the
// span's: use it for errors that carry nothing a caller sent (network and store failures).
func Fail(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}

// TraceID returns the trace id of ctx's span in hex, or "" when it has none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
