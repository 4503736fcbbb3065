// Package tracecontext carries W3C trace context (traceparent, tracestate, baggage) in and
// out of Kavach's HTTP client, its adapters and mcpauth. It uses OpenTelemetry's API only
// (no SDK, no exporter), so those packages stay light: an application's own tracer
// provider, or the one telemetry.Install sets, is found through the global API.
package tracecontext

import (
	"context"
	"encoding/json"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// InstrumentationName names the tracer of the client's and adapters' spans.
const InstrumentationName = "github.com/kavachos/kavach-go"

// Propagator reads and writes W3C trace context and baggage; telemetry.Install makes it the
// process's propagator. It is used whatever global propagator an application set:
// Kavach's server reads W3C headers.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(
	propagation.TraceContext{}, propagation.Baggage{})

// Inject writes ctx's trace context into an outgoing request's headers (or any carrier).
// A ctx without a span writes nothing.
func Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		Propagator.Inject(ctx, carrier)
	}
}

// Extract returns ctx carrying the trace context in carrier, when it has a traceparent;
// that context replaces any ctx had.
func Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	if h, ok := carrier.(propagation.HeaderCarrier); ok {
		if len(h["Traceparent"]) == 0 { // looked up as stored: Header.Get would allocate
			return ctx
		}
	} else if carrier.Get("traceparent") == "" {
		return ctx
	}
	return Propagator.Extract(ctx, carrier)
}

// Continue returns ctx carrying the caller's trace context from an incoming request's
// carrier, unless ctx has a span already: a server span that middleware (otelhttp,
// otelgrpc) opened for the request is a child of the same caller and the better parent.
func Continue(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return Extract(ctx, carrier)
}

// Tracer is the tracer of the global provider: the application's, or telemetry.Install's.
// While neither is set its spans record nothing.
func Tracer() trace.Tracer { return otel.GetTracerProvider().Tracer(InstrumentationName) }

// Meta keys of W3C trace context in an MCP request's params._meta. The MCP specification
// (revision 2026-07-28, Base Protocol, "General fields" > "_meta" > "Reserved keys" and
// "OpenTelemetry trace context"; SEP-414) reserves the unprefixed keys "traceparent",
// "tracestate" and "baggage" for OpenTelemetry trace context, as an exception to its
// prefix rule, with values in the W3C Trace Context and W3C Baggage formats.
const (
	MetaTraceparent = "traceparent"
	MetaTracestate  = "tracestate"
	MetaBaggage     = "baggage"
)

// MetaCarrier reads trace context from an MCP request's params._meta. Values that are not
// strings are not trace context and read as absent.
type MetaCarrier map[string]json.RawMessage

// Get returns the string at key.
func (m MetaCarrier) Get(key string) string {
	raw, ok := m[key]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// Set writes value at key.
func (m MetaCarrier) Set(key, value string) {
	b, _ := json.Marshal(value)
	m[key] = b
}

// Keys lists the keys of _meta.
func (m MetaCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// FromMeta returns ctx carrying the trace context of an MCP request's params._meta, when it
// has a traceparent. It replaces the context of the HTTP request that carried the message:
// one HTTP request may carry several messages, each of its own trace, and the message's
// own context is the finer one (OpenTelemetry's MCP conventions parent the server's work on
// _meta).
func FromMeta(ctx context.Context, meta map[string]json.RawMessage) context.Context {
	if len(meta) == 0 {
		return ctx
	}
	return Extract(ctx, MetaCarrier(meta))
}
