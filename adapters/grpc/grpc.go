// Package grpc enforces Kavach in gRPC servers with unary and stream server interceptors.
// It is adapters/nethttp's Guard read from gRPC metadata: the agent's token from the
// "authorization" metadata ("Bearer kv_…"), the client's address from the connection
// (x-forwarded-for only from trusted proxies), and the full method as the resource.
// Refusals are Unauthenticated, PermissionDenied, InvalidArgument or Unavailable statuses
// whose ErrorInfo detail carries the decision. It is its own module, so that Kavach's main
// module does not depend on gRPC.
//
// A call's W3C trace context in its metadata (traceparent, tracestate, baggage) is
// continued: the authorize call and the handler run in the caller's trace, so the
// decision's audit event names it. A server span that otelgrpc's stats handler
// (grpc.StatsHandler(otelgrpc.NewServerHandler())) opened for the call is the parent
// instead, and is a child of the same caller.
package grpc

import (
	"context"
	"net/http"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	grpcgo "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/tracecontext"
)

// Mapper says what a call asks to do, given its full method ("/pkg.Service/Method").
type Mapper func(ctx context.Context, fullMethod string) (api.AuthorizeRequest, error)

// Config is nethttp's configuration, with a mapper for gRPC methods. Its Map field is not
// used.
type Config struct {
	nethttp.Config
	// Map turns a call into the call to authorize (default DefaultMapper).
	Map Mapper
}

// Action is what DefaultMapper authorizes a gRPC method as.
const Action = "call"

// DefaultMapper authorizes "call" on grpc:<service>:<method>: "/pkg.Service/Get" is
// grpc:pkg.Service:Get.
func DefaultMapper(_ context.Context, fullMethod string) (api.AuthorizeRequest, error) {
	service, method, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	return api.AuthorizeRequest{Action: Action, Resource: "grpc:" + service + ":" + method}, nil
}

// Interceptors authorize every call before its handler runs.
type Interceptors struct {
	guard *nethttp.Guard
	mapf  Mapper
}

// New checks the configuration and returns the interceptors.
func New(cfg Config) (*Interceptors, error) {
	g, err := nethttp.New(cfg.Config)
	if err != nil {
		return nil, err
	}
	if cfg.Map == nil {
		cfg.Map = DefaultMapper
	}
	return &Interceptors{guard: g, mapf: cfg.Map}, nil
}

// Unary is the unary server interceptor.
func (i *Interceptors) Unary() grpcgo.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpcgo.UnaryServerInfo, handler grpcgo.UnaryHandler) (any, error) {
		ctx, err := i.authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream is the stream server interceptor: a stream is authorized once, when it opens.
func (i *Interceptors) Stream() grpcgo.StreamServerInterceptor {
	return func(srv any, ss grpcgo.ServerStream, info *grpcgo.StreamServerInfo, handler grpcgo.StreamHandler) error {
		ctx, err := i.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &stream{ServerStream: ss, ctx: ctx})
	}
}

type stream struct {
	grpcgo.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

// DecisionFrom returns the decision that let the call through.
func DecisionFrom(ctx context.Context) (*api.Decision, bool) { return nethttp.DecisionFrom(ctx) }

// authorize decides a call and returns the handler's context, or the refusal's status.
func (i *Interceptors) authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	req, err := i.mapf(ctx, fullMethod)
	if err != nil {
		return nil, refusalStatus(nethttp.Unmappable(err))
	}
	md, _ := metadata.FromIncomingContext(ctx)
	ctx = tracecontext.Continue(ctx, metadataCarrier(md))
	c := nethttp.Caller{ForwardedFor: md.Get("x-forwarded-for")}
	if ua := md.Get("user-agent"); len(ua) > 0 {
		c.UserAgent = ua[0]
	}
	if auth := md.Get("authorization"); len(auth) == 1 {
		if scheme, token, ok := strings.Cut(auth[0], " "); ok && strings.EqualFold(scheme, "Bearer") {
			c.Token = token
		}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		c.RemoteAddr = p.Addr.String()
	}
	d, refusal := i.guard.Decide(ctx, c, req)
	if refusal != nil {
		return nil, refusalStatus(refusal)
	}
	// The handler gets the decision, not the credential.
	md = md.Copy()
	delete(md, "authorization")
	return nethttp.WithDecision(metadata.NewIncomingContext(ctx, md), d), nil
}

// metadataCarrier reads and writes trace context in gRPC metadata, whose keys are lower
// case.
type metadataCarrier metadata.MD

func (m metadataCarrier) Get(key string) string {
	if vs := metadata.MD(m).Get(key); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func (m metadataCarrier) Set(key, value string) { metadata.MD(m).Set(key, value) }

func (m metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// codesByStatus maps a refusal's HTTP status to gRPC's code.
var codesByStatus = map[int]codes.Code{
	http.StatusUnauthorized:       codes.Unauthenticated,
	http.StatusForbidden:          codes.PermissionDenied,
	http.StatusBadRequest:         codes.InvalidArgument,
	http.StatusServiceUnavailable: codes.Unavailable,
}

// ErrorDomain is the domain of the ErrorInfo detail of a refusal.
const ErrorDomain = "kavach"

// refusalStatus is a refusal as a gRPC status whose ErrorInfo names the decision code
// (Reason) and carries the audit id, approval id and retry delay (Metadata).
func refusalStatus(f *nethttp.Refusal) error {
	code, ok := codesByStatus[f.Status]
	if !ok {
		code = codes.Internal
	}
	p := f.Problem
	msg := p.Detail
	if p.Reason != "" {
		msg = p.Reason + ": " + msg
	}
	st := status.New(code, msg)
	info := &errdetails.ErrorInfo{Reason: p.Reason, Domain: ErrorDomain, Metadata: map[string]string{}}
	for k, v := range map[string]string{"auditId": p.AuditID, "approvalId": p.ApprovalID, "retryAfter": p.RetryAfter} {
		if v != "" {
			info.Metadata[k] = v
		}
	}
	if withInfo, err := st.WithDetails(info); err == nil {
		st = withInfo
	}
	return st.Err()
}
