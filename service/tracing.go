package service

import (
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
			c.SetRequest(r.WithContext(telemetry.Extract(r.Context(), propagation.HeaderCarrier(r.Header))))
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
	name := r.Method
	if route != "" {
		name += " " + route
	}
	ctx := telemetry.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := telemetry.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	if span.IsRecording() { // a sampled-out request builds no attributes
		span.SetAttributes(requestAttributes(c, route)...)
	}
	c.SetRequest(r.WithContext(ctx))
	telemetry.Inject(ctx, propagation.HeaderCarrier(c.Response().Header()))
	if err := next(c); err != nil {
		c.Error(err)
	}
	status := c.Response().Status
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if strings.HasSuffix(route, "*") && status != http.StatusNotFound {
		// A mount (the OAuth server, the console) answers many paths under one
		// pattern: its span is named by the path it answered, unless it did not know
		// the path, so that a caller cannot mint span names.
		span.SetName(r.Method + " " + r.URL.Path)
	}
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
}

// requestAttributes are the HTTP semantic conventions' attributes of a server span. The
// query string is left out: OAuth's authorize route carries codes and state in it.
func requestAttributes(c echo.Context, route string) []attribute.KeyValue {
	r := c.Request()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", r.Method),
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
