package service

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/telemetry"
)

// handler is the server as an http.Handler. With tracing on, OpenTelemetry's HTTP
// instrumentation (otelhttp) wraps it: each request is a server span with the semantic
// conventions' attributes, continuing the caller's traceparent. With tracing off it is
// Echo alone, and costs nothing more.
func (s *Server) handler() http.Handler {
	if !telemetry.Enabled() {
		return s.echo
	}
	return otelhttp.NewHandler(s.echo, "HTTP",
		otelhttp.WithPropagators(traceparentOnly{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return spanName(r.Method, "") }))
}

// traced runs next in the caller's trace. The caller's traceparent is read even while
// tracing is off, so that a decision's audit event names its caller's trace. With tracing
// on, otelhttp has opened the request's server span; once Echo has routed the request the
// span is named by its route, and the response carries its traceparent, so that a caller
// without a tracer of its own can find the trace. It is called from observe rather than
// being a middleware of its own: Echo builds its middleware chain on every request, and
// each middleware would cost an allocation.
func (s *Server) traced(c echo.Context, next echo.HandlerFunc) {
	r := c.Request()
	span := trace.SpanFromContext(r.Context())
	switch {
	case span.IsRecording():
		route := c.Path()
		if !s.known[route] {
			route = ""
		}
		name := spanName(r.Method, route)
		if strings.HasSuffix(route, "*") && s.endpoints[r.URL.Path] {
			name = spanName(r.Method, r.URL.Path) // a mount's own endpoint: "POST /oauth/token"
		}
		span.SetName(name)
		if route != "" {
			span.SetAttributes(attribute.String("http.route", route))
		}
		fallthrough
	case span.SpanContext().IsValid():
		traceparentOnly{}.Inject(r.Context(), propagation.HeaderCarrier(c.Response().Header()))
	case len(r.Header["Traceparent"]) > 0: // looked up as stored: Header.Get would allocate
		c.SetRequest(r.WithContext(callersTrace(r.Context(), propagation.HeaderCarrier(r.Header))))
	}
	if err := next(c); err != nil {
		c.Error(err)
	}
	// A mount's ServeMux records its pattern in the request; otelhttp would then name the
	// span again, by the method alone. The route named it already.
	r.Pattern = ""
}

// traceparentOnly reads and writes W3C traceparent, without the caller's tracestate
// (Kavach is none of its vendors, and would copy it into every span of the request) or
// baggage (nothing here reads it).
type traceparentOnly struct{}

func (traceparentOnly) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(ctx, trace.SpanContextFromContext(ctx).WithTraceState(trace.TraceState{})), carrier)
}

func (traceparentOnly) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return callersTrace(ctx, carrier)
}

func (traceparentOnly) Fields() []string { return []string{"traceparent"} }

// callersTrace is ctx in the caller's trace as its traceparent gives it, without its
// tracestate.
func callersTrace(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	ctx = propagation.TraceContext{}.Extract(ctx, carrier)
	if sc := trace.SpanContextFromContext(ctx); sc.TraceState().Len() > 0 {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc.WithTraceState(trace.TraceState{}))
	}
	return ctx
}

// spanName is a server span's name: the method and the route. A method outside HTTP's
// own is "HTTP", as the semantic conventions say, so that a caller cannot mint names.
func spanName(method, route string) string {
	if !methods[method] {
		method = "HTTP"
	}
	if route == "" {
		return method
	}
	return method + " " + route
}
