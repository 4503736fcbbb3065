// Package envoy is an Envoy external authorization service (ext_authz, v3 gRPC API) that
// asks Kavach. It is adapters/nethttp's Guard read from Envoy's CheckRequest: the agent's
// token from the authorization header, the client's address from the request's source
// (x-forwarded-for only from trusted proxies), method and path mapped as nethttp maps a
// path. An allowed request goes upstream without its authorization header and with the
// decision in x-kavach-* headers; a refused one is answered by Envoy with the adapter's
// problem+json. It is its own module, so that Kavach's main module does not depend on
// Envoy's API.
//
// The check continues the request's W3C trace: the decision is made, and its audit event
// recorded, in the trace context of the Check call's gRPC metadata (traceparent,
// tracestate, baggage: a tracing Envoy sends its ext_authz span there), or else in that of
// the checked request's own headers. A server span that otelgrpc's stats handler opened
// for the Check call is the parent instead.
package envoy

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/tracecontext"
)

// Mapper says what a checked HTTP request asks to do.
type Mapper func(req *authv3.AttributeContext_HttpRequest) (api.AuthorizeRequest, error)

// DefaultMapper authorizes the method in lower case on the path under "http":
// GET /repos/42 is "get" on http:repos:42.
func DefaultMapper(req *authv3.AttributeContext_HttpRequest) (api.AuthorizeRequest, error) {
	path := req.GetPath()
	if u, err := url.ParseRequestURI(path); err == nil {
		path = u.Path
	}
	return api.AuthorizeRequest{
		Action: nethttp.MethodAction(req.GetMethod()), Resource: nethttp.RouteResource(nethttp.DefaultPrefix, path),
	}, nil
}

// Config is nethttp's configuration, with a mapper for Envoy's request attributes. Its
// Map field is not used.
type Config struct {
	nethttp.Config
	Map Mapper
}

// Headers added to an allowed request on its way upstream (client-sent values are
// overwritten).
const (
	HeaderGrant   = "x-kavach-grant"
	HeaderAuditID = "x-kavach-audit-id"
)

// Server implements Envoy's Authorization service.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	guard *nethttp.Guard
	mapf  Mapper
}

// New checks the configuration and returns the service; register it with
// authv3.RegisterAuthorizationServer.
func New(cfg Config) (*Server, error) {
	g, err := nethttp.New(cfg.Config)
	if err != nil {
		return nil, err
	}
	if cfg.Map == nil {
		cfg.Map = DefaultMapper
	}
	return &Server{guard: g, mapf: cfg.Map}, nil
}

// Check decides one request. Refusals are answers, not errors: Envoy sends them to the
// client.
func (s *Server) Check(ctx context.Context, in *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	hr := in.GetAttributes().GetRequest().GetHttp()
	req, err := s.mapf(hr)
	if err != nil {
		return denied(nethttp.Unmappable(err)), nil
	}
	h := hr.GetHeaders() // Envoy sends header names in lower case
	ctx = continueTrace(ctx, h)
	c := nethttp.Caller{UserAgent: h["user-agent"], RemoteAddr: sourceAddress(in)}
	if v := h["x-forwarded-for"]; v != "" {
		c.ForwardedFor = []string{v}
	}
	if scheme, token, ok := strings.Cut(h["authorization"], " "); ok && strings.EqualFold(scheme, "Bearer") {
		c.Token = token
	}
	d, refusal := s.guard.Decide(ctx, c, req)
	if refusal != nil {
		return denied(refusal), nil
	}
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers:         []*corev3.HeaderValueOption{overwrite(HeaderGrant, d.Grant), overwrite(HeaderAuditID, d.AuditID)},
			HeadersToRemove: []string{"authorization"},
		}},
	}, nil
}

// continueTrace returns ctx in the trace the check belongs to: ctx's own span, the Check
// call's metadata, or the checked request's headers, in that order.
func continueTrace(ctx context.Context, headers map[string]string) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	fromMD := propagation.MapCarrier{}
	for _, k := range []string{"traceparent", "tracestate", "baggage"} {
		if vs := md.Get(k); len(vs) > 0 {
			fromMD[k] = vs[0]
		}
	}
	ctx = tracecontext.Continue(ctx, fromMD)
	return tracecontext.Continue(ctx, propagation.MapCarrier(headers))
}

func sourceAddress(in *authv3.CheckRequest) string {
	sa := in.GetAttributes().GetSource().GetAddress().GetSocketAddress()
	if sa == nil {
		return ""
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
}

func overwrite(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: name, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// grpcCodes maps a refusal's HTTP status to the check's status code.
var grpcCodes = map[int]codes.Code{401: codes.Unauthenticated, 403: codes.PermissionDenied, 400: codes.InvalidArgument, 503: codes.Unavailable}

// denied is a refusal as Envoy's denied response: status, headers and the problem body.
func denied(f *nethttp.Refusal) *authv3.CheckResponse {
	rec := &recorder{header: http.Header{}}
	f.Write(rec)
	var headers []*corev3.HeaderValueOption
	for k, vs := range rec.header {
		for _, v := range vs {
			headers = append(headers, overwrite(strings.ToLower(k), v))
		}
	}
	code, ok := grpcCodes[f.Status]
	if !ok {
		code = codes.PermissionDenied
	}
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(code), Message: f.Problem.Reason},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(f.Status)}, Headers: headers, Body: rec.body.String(),
		}},
	}
}

// recorder captures a refusal written as an HTTP response.
type recorder struct {
	header http.Header
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(int)             {}
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// ProblemOf reads the problem document of a denied response.
func ProblemOf(resp *authv3.DeniedHttpResponse) (nethttp.Problem, error) {
	var p nethttp.Problem
	err := json.Unmarshal([]byte(resp.GetBody()), &p)
	return p, err
}
