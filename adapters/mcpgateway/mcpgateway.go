// Package mcpgateway is a reverse proxy that puts Kavach in front of any MCP server
// speaking Streamable HTTP, without changing the server. Every request must carry a Kavach
// agent token (kv_…) or a Kavach OAuth access token; every tools/call is authorized as
// "call" on mcp:<server>:<tool> with its arguments, and refused with a JSON-RPC error
// carrying the decision; tools/list answers show only the tools the agent may call,
// checked with side-effect-free dry runs; the client's credentials never reach the
// server. Authentication and the tools/call check are mcpauth's Guard; this package adds
// the proxy, the tools/list filter and the routing-header check.
//
// Trace context: the caller's W3C trace continues through the gateway. A tools/call is
// authorized in the trace of its params._meta ("traceparent", "tracestate", "baggage",
// the keys the MCP specification's 2026-07-28 revision reserves for OpenTelemetry trace
// context), else in that of the request's traceparent header. The forwarded body keeps
// its _meta untouched; the forwarded request's traceparent header names the gateway's
// span when tracing is on (a server span per request, child of that context), and the
// caller's context otherwise.
package mcpgateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/clientip"
	"github.com/kavachos/kavach-go/internal/tracecontext"
	"github.com/kavachos/kavach-go/mcpauth"
)

// Kavach is what the gateway asks: decisions, and the agent behind an agent token. Both
// the embedded *kavach.Kavach and client.Client are one.
type Kavach interface {
	api.Authorizer
	Agents() api.Agents
}

// Config says what to guard and whom to ask.
type Config struct {
	// Upstream is the MCP endpoint of the server behind the gateway
	// ("http://127.0.0.1:9090/mcp").
	Upstream string
	// Server is the upstream's name in Kavach resources: mcp:<Server>:<tool>.
	Server string
	// Resource is the gateway's own MCP endpoint as clients reach it: the audience of
	// OAuth access tokens and the path the gateway serves.
	Resource string
	// Issuer is the Kavach authorization server whose access tokens are accepted; empty
	// accepts agent tokens only (and serves no RFC 9728 metadata).
	Issuer string
	// JWKSURL overrides discovering the issuer's keys.
	JWKSURL string
	// Kavach decides.
	Kavach Kavach
	// Actor, if set, is the caller Kavach is asked as (the embedded SDK needs one).
	Actor *api.Actor
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []string
	// Transport reaches the upstream (default http.DefaultTransport).
	Transport http.RoundTripper
	// MaxListBytes bounds a tools/list answer read for filtering (default 8 MiB).
	MaxListBytes int64
	Logger       *slog.Logger
	// DPoPNonces and DPoPNonceSecret are mcpauth.Config's: require server-provided nonces
	// in the DPoP proofs of bound tokens; instances given the same secret accept each
	// other's nonces.
	DPoPNonces      bool
	DPoPNonceSecret []byte
}

// Gateway is an http.Handler serving the guarded MCP endpoint and its metadata.
type Gateway struct {
	cfg      Config
	upstream *url.URL
	ips      *clientip.Resolver
	mux      *http.ServeMux
}

// New checks the configuration and returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	up, err := url.Parse(cfg.Upstream)
	if err != nil || up.Host == "" || (up.Scheme != "http" && up.Scheme != "https") {
		return nil, errors.New("mcpgateway: Upstream must be an absolute http(s) URL")
	}
	if cfg.Kavach == nil {
		return nil, errors.New("mcpgateway: Kavach is required")
	}
	ips, err := clientip.New(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.MaxListBytes <= 0 {
		cfg.MaxListBytes = 8 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	gw := &Gateway{cfg: cfg, upstream: up, ips: ips, mux: http.NewServeMux()}
	guard, err := mcpauth.New(mcpauth.Config{
		Resource: cfg.Resource, Server: cfg.Server, Issuer: cfg.Issuer, JWKSURL: cfg.JWKSURL,
		Authorizer: cfg.Kavach, Agents: cfg.Kavach.Agents(), Actor: cfg.Actor,
		ClientIP: gw.clientIP, Logger: cfg.Logger, ResourceName: cfg.Server,
		DPoPNonces: cfg.DPoPNonces, DPoPNonceSecret: cfg.DPoPNonceSecret,
	})
	if err != nil {
		return nil, err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:        gw.rewrite,
		Transport:      cfg.Transport,
		FlushInterval:  -1,
		ModifyResponse: gw.filterList,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError),
	}
	guard.Mount(gw.mux, gw.inspect(proxy))
	return gw, nil
}

// ServeHTTP serves the guarded MCP endpoint at the resource's path and, with an issuer,
// its RFC 9728 metadata.
func (gw *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { gw.mux.ServeHTTP(w, r) }

func (gw *Gateway) clientIP(r *http.Request) string {
	return gw.ips.Resolve(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
}

// rewrite addresses the upstream and drops every credential of the client's. mcpauth has
// removed Authorization already; the rest must not travel either.
func (gw *Gateway) rewrite(pr *httputil.ProxyRequest) {
	out := pr.Out
	out.URL.Scheme, out.URL.Host = gw.upstream.Scheme, gw.upstream.Host
	out.URL.Path, out.URL.RawPath = gw.upstream.Path, gw.upstream.RawPath
	out.Host = ""
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Cookie"} {
		out.Header.Del(h)
	}
	// A compressed answer could not be filtered; the transport negotiates its own.
	out.Header.Del("Accept-Encoding")
	pr.SetXForwarded()
	// The upstream continues the trace from the gateway's span (or the caller's context).
	if trace.SpanContextFromContext(out.Context()).IsValid() {
		out.Header.Del("traceparent")
		out.Header.Del("tracestate")
		tracecontext.Inject(out.Context(), propagation.HeaderCarrier(out.Header))
	}
}

// mcpMethods are the request methods of MCP that name a span; any other is "mcp", so that
// a client cannot mint span names.
var mcpMethods = map[string]bool{
	"initialize": true, "ping": true, "tools/list": true, "tools/call": true, "resources/list": true,
	"resources/templates/list": true, "resources/read": true, "resources/subscribe": true,
	"resources/unsubscribe": true, "prompts/list": true, "prompts/get": true, "completion/complete": true,
	"logging/setLevel": true, "notifications/initialized": true, "notifications/cancelled": true,
	"notifications/progress": true, "notifications/roots/list_changed": true,
}

// toolName is the form MCP gives tool names; one that is not keeps out of span names.
var toolName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// startSpan puts the request into its trace: a single message's own, from params._meta,
// else the one mcpauth continued from the traceparent header. With a tracer provider
// installed it opens the gateway's server span there, named after the MCP method (and
// tool), as OpenTelemetry's MCP conventions name server spans.
func startSpan(r *http.Request, msgs []message) (*http.Request, trace.Span) {
	ctx, name := r.Context(), "mcp"
	if len(msgs) == 1 {
		m := msgs[0]
		ctx = tracecontext.FromMeta(ctx, m.Params.Meta)
		if mcpMethods[m.Method] {
			name = m.Method
			if m.Method == "tools/call" && toolName.MatchString(m.Params.Name) {
				name += " " + m.Params.Name
			}
		}
	}
	ctx, span := tracecontext.Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
	if span.IsRecording() && len(msgs) == 1 && mcpMethods[msgs[0].Method] {
		span.SetAttributes(attribute.String("mcp.method.name", msgs[0].Method))
		if msgs[0].Method == "tools/call" {
			span.SetAttributes(attribute.String("gen_ai.tool.name", msgs[0].Params.Name))
		}
	}
	return r.WithContext(ctx), span
}

// inspect runs after mcpauth let the request through: it checks the routing headers
// against the body and notes tools/list requests, whose answers filterList narrows.
func (gw *Gateway) inspect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		msgs, err := readMessages(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(msgs) == 1 {
			if msg := routingMismatch(r.Header, msgs[0]); msg != "" {
				writeRPCError(w, http.StatusBadRequest, msgs[0].ID, invalidRequest, msg)
				return
			}
		}
		r, span := startSpan(r, msgs)
		defer span.End()
		lists := map[string]bool{}
		for _, m := range msgs {
			if m.Method == "tools/list" && len(m.ID) > 0 {
				lists[string(m.ID)] = true
			}
		}
		if len(lists) > 0 {
			r = r.WithContext(context.WithValue(r.Context(), listKey{}, &listing{ids: lists, ip: gw.clientIP(r), userAgent: r.UserAgent()}))
		}
		next.ServeHTTP(w, r)
	})
}

// routingMismatch compares the Mcp-Method and Mcp-Name headers, where a client sent them,
// with the message: a proxy or server routing on the headers must see the call Kavach
// authorized.
func routingMismatch(h http.Header, m message) string {
	if v := h.Get("Mcp-Method"); v != "" && v != m.Method {
		return "the Mcp-Method header does not match the request body"
	}
	target := m.Params.Name
	if target == "" {
		target = m.Params.URI
	}
	if v := h.Get("Mcp-Name"); v != "" && v != target {
		return "the Mcp-Name header does not match the request body"
	}
	return ""
}

type listKey struct{}

// listing is what filterList needs about a request carrying tools/list.
type listing struct {
	ids       map[string]bool
	ip        string
	userAgent string
}
