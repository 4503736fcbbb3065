package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/internal/tracecontext"
)

// WithTracerProvider opens the client's spans with tp instead of the global provider (the
// application's otel.SetTracerProvider, or telemetry.Install's).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *Client) { c.tracer = tp.Tracer(tracecontext.InstrumentationName) }
}

// startSpan opens the client span of one request, a child of ctx's span. While no tracer
// provider is installed the span records nothing and ctx keeps its caller's span context,
// which is then what the request carries.
func (c *Client) startSpan(ctx context.Context, method, target string) (context.Context, trace.Span) {
	tracer := c.tracer
	if tracer == nil {
		tracer = tracecontext.Tracer()
	}
	ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(requestAttributes(method, target)...)
	}
	return ctx, span
}

// requestAttributes are OpenTelemetry's HTTP client attributes. url.full leaves out the
// query (filters, cursors) and any user information: nothing a caller may consider secret.
func requestAttributes(method, target string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String("http.request.method", method)}
	u, err := url.Parse(target)
	if err != nil {
		return attrs
	}
	clean := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	attrs = append(attrs, attribute.String("url.full", clean.String()), attribute.String("server.address", u.Hostname()))
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if n, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", n))
	}
	return attrs
}

// inject writes the trace context of ctx (the client span's, or the caller's) into req.
func inject(ctx context.Context, req *http.Request) {
	tracecontext.Inject(ctx, propagation.HeaderCarrier(req.Header))
}

// endSpan records how the request ended and closes its span. A client span fails on a
// transport error and on any 4xx or 5xx answer, as OpenTelemetry's HTTP conventions say.
func endSpan(span trace.Span, resp *http.Response, err error) {
	defer span.End()
	if !span.IsRecording() {
		return
	}
	if resp != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		if resp.StatusCode >= 400 {
			span.SetAttributes(attribute.String("error.type", strconv.Itoa(resp.StatusCode)))
			span.SetStatus(codes.Error, "")
		}
		return
	}
	if err == nil {
		return
	}
	kind := "transport"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		kind = "timeout"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // without the URL and its query
	}
	span.SetAttributes(attribute.String("error.type", kind))
	span.SetStatus(codes.Error, err.Error())
}
