// Package nethttp enforces Kavach in front of net/http handlers: the standard library's
// ServeMux, Chi, gorilla/mux and anything else built on http.Handler. It authenticates the
// calling agent from its bearer token, maps the request to an (action, resource) pair,
// asks Kavach, answers refusals with problem+json, and hands the decision to the handler
// through the request's context.
//
// It depends only on Kavach's api/, agent/ and clientip/ packages (and OpenTelemetry's
// API), so it works the same with the embedded SDK (*kavach.Kavach) and the HTTP client
// (client.Client). Other adapters build on its Guard.
//
// A request's W3C trace context (traceparent, tracestate) is continued: the authorize call
// and the handler's context belong to the caller's trace, so the decision's audit event
// names it, and client.Client passes it on to a remote Kavach. A span that tracing
// middleware in front of the Guard opened for the request is kept as the parent instead.
package nethttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/propagation"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/clientip"
	"github.com/kavachos/kavach-go/internal/tracecontext"
)

// AccessTokenVerifier checks a bearer token that is not a Kavach agent token (a Kavach
// OAuth access token) and returns the id of the agent it names. An error means the token
// is not accepted.
type AccessTokenVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (agentID string, err error)
}

// RequestVerifier is an AccessTokenVerifier that can check a token with the request that
// carried it, as a token bound to a DPoP key needs (mcpauth.Guard is one). Check uses it
// when AccessTokens implements it, and then accepts "Authorization: DPoP" too.
type RequestVerifier interface {
	VerifyRequest(ctx context.Context, r *http.Request) (agentID string, err error)
}

// Mapper says what a request asks to do. It may set arguments, which argument patterns
// are then checked against.
type Mapper func(r *http.Request) (api.AuthorizeRequest, error)

// Config says whom to ask and how to read requests.
type Config struct {
	// Authorizer decides: the embedded *kavach.Kavach (then set Actor too) or a
	// client.Client with an app key.
	Authorizer api.Authorizer
	// Actor, if set, is the caller the Authorizer is asked as (the embedded SDK needs one).
	Actor *api.Actor
	// Map turns a request into the call to authorize (default DefaultMapper).
	Map Mapper
	// TrustedProxies are the addresses or CIDRs of proxies whose X-Forwarded-For is
	// believed. Empty: the connection's peer is the client.
	TrustedProxies []string
	// AccessTokens, if set, accepts bearer tokens other than kv_ agent tokens (Kavach OAuth
	// access tokens). Without it such tokens are refused.
	AccessTokens AccessTokenVerifier
	// Logger receives failures to reach Kavach (default slog.Default()).
	Logger *slog.Logger
}

// Guard authenticates and authorizes requests. It is safe for concurrent use.
type Guard struct {
	cfg Config
	ips *clientip.Resolver
}

// New checks the configuration and returns a Guard.
func New(cfg Config) (*Guard, error) {
	if cfg.Authorizer == nil {
		return nil, errors.New("nethttp: an Authorizer is required")
	}
	ips, err := clientip.New(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	if cfg.Map == nil {
		cfg.Map = DefaultMapper
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Guard{cfg: cfg, ips: ips}, nil
}

// Middleware lets a request through to next only if Kavach allows it. next finds the
// decision with DecisionFrom and never sees the agent's credential: the Authorization and
// DPoP headers are removed.
//
// Wrap each route's handler (mux.Handle("GET /repos/{id}", g.Middleware(h))) so that the
// route pattern is known when the request is mapped; wrapping a whole ServeMux maps the
// request's path instead.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(ContinueTrace(r))
		req, err := g.cfg.Map(r)
		if err != nil {
			Unmappable(err).Write(w)
			return
		}
		d, refusal := g.Check(r, req)
		if refusal != nil {
			refusal.Write(w)
			return
		}
		r.Header.Del("Authorization")
		r.Header.Del("DPoP")
		next.ServeHTTP(w, r.WithContext(WithDecision(r.Context(), d)))
	})
}

// Check authenticates the request's agent and asks Kavach about req. It returns the
// decision if the call is allowed, and otherwise the refusal to answer with.
func (g *Guard) Check(r *http.Request, req api.AuthorizeRequest) (*api.Decision, *Refusal) {
	token, ok := Bearer(r)
	if !ok {
		token = ""
	}
	_, verifiesRequests := g.cfg.AccessTokens.(RequestVerifier)
	if scheme, t, _ := strings.Cut(r.Header.Get("Authorization"), " "); token == "" && verifiesRequests &&
		strings.EqualFold(scheme, "DPoP") && !strings.HasPrefix(strings.TrimSpace(t), agent.TokenPrefix) {
		token = strings.TrimSpace(t)
	}
	return g.Decide(ContinueTrace(r), Caller{
		Token: token, RemoteAddr: r.RemoteAddr, ForwardedFor: r.Header.Values("X-Forwarded-For"), UserAgent: r.UserAgent(),
		request: r,
	}, req)
}

// ContinueTrace returns the request's context carrying the caller's W3C trace context
// from its headers, unless the context has a span already (tracing middleware opened one).
// Framework adapters give handlers this context, so that what they call next continues the
// trace too.
func ContinueTrace(r *http.Request) context.Context {
	return tracecontext.Continue(r.Context(), propagation.HeaderCarrier(r.Header))
}

// Caller is what Decide needs to know of a request, whatever protocol carried it.
type Caller struct {
	Token        string   // the bearer token; empty if none came
	RemoteAddr   string   // the connection's peer, "ip:port" or "ip"
	ForwardedFor []string // X-Forwarded-For values, believed only from trusted proxies
	UserAgent    string
	request      *http.Request // the request, for a RequestVerifier; nil outside Check
}

// Decide is Check for callers that are not net/http requests (gRPC, for one). ctx should
// carry the caller's trace context, as ContinueTrace reads it from HTTP headers.
func (g *Guard) Decide(ctx context.Context, c Caller, req api.AuthorizeRequest) (*api.Decision, *Refusal) {
	token := strings.TrimSpace(c.Token)
	if token == "" {
		return nil, unauthenticated("", "a bearer token is required")
	}
	if g.cfg.Actor != nil {
		ctx = api.WithActor(ctx, *g.cfg.Actor)
	}
	cc := api.CallContext{IP: g.ips.Resolve(c.RemoteAddr, c.ForwardedFor), UserAgent: c.UserAgent}
	var d *api.Decision
	var err error
	switch {
	case strings.HasPrefix(token, agent.TokenPrefix):
		d, err = g.cfg.Authorizer.AuthorizeToken(ctx, token, req, cc)
	case g.cfg.AccessTokens != nil:
		agentID, verr := g.verifyAccessToken(ctx, c, token)
		if verr != nil {
			f := unauthenticated(api.TokenInvalid, verr.Error())
			if dc, ok := verr.(dpopChallenger); ok {
				if challenge, nonce := dc.DPoPChallenge(); challenge != "" {
					f.Challenge, f.DPoPNonce = challenge, nonce
				}
			}
			return nil, f
		}
		d, err = g.cfg.Authorizer.Authorize(ctx, agentID, req, cc)
	default:
		return nil, unauthenticated(api.TokenInvalid, "the token is not a Kavach agent token")
	}
	if err != nil {
		return nil, g.failed(ctx, err)
	}
	if d.Allowed {
		return d, nil
	}
	return nil, Denied(d)
}

// dpopChallenger is a verifier's refusal of a DPoP request (mcpauth's): it says which
// DPoP challenge to answer with, and the nonce a client must put in its next proof.
type dpopChallenger interface {
	DPoPChallenge() (challenge, nonce string)
}

// verifyAccessToken checks an access token with its request when the verifier can, and
// alone otherwise.
func (g *Guard) verifyAccessToken(ctx context.Context, c Caller, token string) (string, error) {
	if rv, ok := g.cfg.AccessTokens.(RequestVerifier); ok && c.request != nil {
		return rv.VerifyRequest(ctx, c.request)
	}
	return g.cfg.AccessTokens.VerifyAccessToken(ctx, token)
}

// ClientIP is the request's client address: the connection's peer, or the left-most hop of
// X-Forwarded-For not written by a trusted proxy.
func (g *Guard) ClientIP(r *http.Request) string {
	return g.ips.Resolve(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
}

// failed turns an error from the Authorizer into a refusal; the request does not proceed.
func (g *Guard) failed(ctx context.Context, err error) *Refusal {
	if api.IsInvalidInput(err) {
		return Unmappable(err)
	}
	g.cfg.Logger.ErrorContext(ctx, "kavach: authorize failed; the request is refused", "error", err)
	return unavailable()
}

// Bearer returns the token of an Authorization: Bearer header. Tokens in the query string
// are never accepted.
func Bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

type decisionKey struct{}

// WithDecision returns a context carrying the decision that let a request through.
func WithDecision(ctx context.Context, d *api.Decision) context.Context {
	return context.WithValue(ctx, decisionKey{}, d)
}

// DecisionFrom returns the decision that let the request through.
func DecisionFrom(ctx context.Context) (*api.Decision, bool) {
	d, ok := ctx.Value(decisionKey{}).(*api.Decision)
	return d, ok
}
