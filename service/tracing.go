package service

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/telemetry"
)

// traced runs next in the caller's W3C trace context, on every route. The context is read
// even while tracing is off, so that a decision's audit event names its caller's trace;
// with tracing on, each request is a server span named by its route, and the response
// carries the span's traceparent so that a caller without a tracer of its own can find the
// trace. It is called from observe rather than being a middleware of its own: Echo builds
// its middleware chain on every request, and each middleware would cost an allocation.
func (s *Server) traced(c echo.Context, next echo.HandlerFunc) {
	r := c.Request()
	if !telemetry.Enabled() {
		if len(r.Header["Traceparent"]) > 0 { // looked up as stored: Header.Get would allocate
			c.SetRequest(r.WithContext(callersTrace(r)))
		}
		if err := next(c); err != nil {
			c.Error(err)
		}
		return
	}
	route := c.Path()
	if !s.known[route] {
		route = ""
	}
	name := spanName(r.Method, route)
	if strings.HasSuffix(route, "*") && s.endpoints[r.URL.Path] {
		name = spanName(r.Method, r.URL.Path) // a mount's own endpoint: "POST /oauth/token"
	}
	ctx := r.Context()
	if len(r.Header["Traceparent"]) > 0 {
		ctx = callersTrace(r)
	}
	ctx, span := telemetry.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	if span.IsRecording() { // a sampled-out request builds no attributes
		span.SetAttributes(requestAttributes(c, route)...)
	}
	c.SetRequest(r.WithContext(ctx))
	if sc := span.SpanContext(); sc.IsValid() {
		c.Response().Header().Set("traceparent", "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-"+sc.TraceFlags().String())
	}
	if err := next(c); err != nil {
		c.Error(err)
	}
	if !span.IsRecording() {
		return
	}
	status := c.Response().Status
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
}

// callersTrace is the request's context in the caller's trace: its traceparent, without
// the caller's tracestate (Kavach is none of its vendors, and would copy it into every
// span of the request) or baggage (nothing here reads it).
func callersTrace(r *http.Request) context.Context {
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
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

// requestAttributes are the HTTP semantic conventions' attributes of a server span. The
// query string is left out: OAuth's authorize route carries codes and state in it.
func requestAttributes(c echo.Context, route string) []attribute.KeyValue {
	r := c.Request()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	method := r.Method
	if !methods[method] {
		method = "_OTHER"
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", method),
		attribute.String("url.path", r.URL.Path),
		attribute.String("url.scheme", scheme),
		attribute.String("network.protocol.version", strconv.Itoa(r.ProtoMajor)+"."+strconv.Itoa(r.ProtoMinor)),
	}
	if route != "" {
		attrs = append(attrs, attribute.String("http.route", route))
	}
	if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		attrs = append(attrs, attribute.String("network.peer.address", host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, attribute.Int("network.peer.port", p))
		}
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, attribute.String("user_agent.original", ua))
	}
	return attrs
}
