// Package mcpauth makes any Go MCP server (streamable HTTP on net/http) require Kavach
// tokens. It serves RFC 9728 protected resource metadata, verifies each bearer token (a JWT
// from the Kavach authorization server: signature against its JWKS, issuer, audience = this
// server, expiry, an asymmetric algorithm; or, with Config.Agents, a Kavach agent token
// checked by Kavach), answers 401 and 403 with the WWW-Authenticate
// challenges MCP clients follow, and authorizes every tools/call through Kavach's permission
// engine as "call" on mcp:<server>:<tool> with the call's arguments. A denial is a JSON-RPC
// error carrying the decision code, not an HTTP error, so clients do not re-authorize in a
// loop. The token never travels further than this middleware.
//
// A token bound to a DPoP key (cnf.jkt, RFC 9449) must come as "Authorization: DPoP" with a
// proof of this request signed with that key.
//
// Trace context: a tools/call is authorized in the W3C trace context of its params._meta
// (the keys "traceparent", "tracestate" and "baggage", which the MCP specification's
// 2026-07-28 revision reserves for OpenTelemetry trace context), or else in that of the
// HTTP request's traceparent header, so the decision's audit event names the caller's
// trace. The request's context, as next gets it, continues the header's trace unless
// tracing middleware already opened a span for it.
//
// It imports only Kavach's api/ and agent/ packages (and its internal DPoP checks and
// trace-context helpers, over OpenTelemetry's API), so the server can authorize through
// the HTTP client (client/, with an app key) or the embedded SDK.
package mcpauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/dpop"
	"github.com/kavachos/kavach-go/internal/tracecontext"
)

// Config says which server this is and whom to trust.
type Config struct {
	// Resource is this MCP server's canonical URI ("https://mcp.example.com/mcp"): the
	// audience its tokens must name, and the resource of its metadata.
	Resource string
	// Server is the server's name in Kavach resources: a tool call is authorized as
	// mcp:<Server>:<tool>. The authorization server must map Resource to the same name.
	Server string
	// Issuer is the Kavach authorization server's issuer, exactly.
	Issuer string
	// JWKSURL is where the signing keys are; empty means discovering it from the issuer's
	// RFC 8414 metadata.
	JWKSURL string
	// Authorizer decides tool calls: a client.Client with an app key, or the embedded
	// *kavach.Kavach (then set Actor too).
	Authorizer api.Authorizer
	// Actor, if set, is the caller the Authorizer is asked as (the embedded SDK needs one).
	Actor *api.Actor
	// Scopes are required of every request (default "mcp").
	Scopes []string
	// Agents, if set, makes the Guard accept Kavach agent tokens (kv_…) too, checked with
	// Agents.ValidateToken. An agent token carries no scopes: it stands for its agent's
	// permissions alone. With Agents set, Issuer may be empty: then only agent tokens are
	// accepted and no metadata is served.
	Agents api.Agents
	// ResourceName is shown to users by clients that read the metadata.
	ResourceName string
	// HTTPClient fetches metadata and keys (default: 10 s timeout).
	HTTPClient *http.Client
	// ClientIP returns the caller's address for IP allowlists (default: the connection's).
	ClientIP func(*http.Request) string
	// MaxBodyBytes bounds a JSON-RPC request body (default 4 MiB).
	MaxBodyBytes int64
	// Leeway tolerates clock skew on exp and nbf (default 30 s).
	Leeway time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	// DPoPNonces requires a server-provided nonce in the DPoP proofs of bound tokens (RFC
	// 9449 section 9): a proof without a current nonce is refused with 401 use_dpop_nonce,
	// and DPoP answers carry the nonce to use in DPoP-Nonce. Nonces need no state: they are
	// an HMAC of the time under DPoPNonceSecret, so every instance of the server given the
	// same secret accepts the nonces of the others. Without a secret, a random one is made:
	// then a nonce works only with the Guard that issued it.
	DPoPNonces      bool
	DPoPNonceSecret []byte
}

// Guard protects one MCP server.
type Guard struct {
	cfg      Config
	resource *url.URL
	metaURL  string
	keys     *keySet
	log      *slog.Logger
	dpopSeen *dpop.Cache // DPoP proofs accepted within their iat window
}

// New checks the configuration and returns a Guard. Keys are fetched on first use.
func New(cfg Config) (*Guard, error) {
	u, err := url.Parse(cfg.Resource)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Fragment != "":
		return nil, fmt.Errorf("mcpauth: Resource %q must be an absolute http(s) URI without fragment", cfg.Resource)
	case cfg.Server == "" || strings.ContainsAny(cfg.Server, ": *\t\n"):
		return nil, fmt.Errorf("mcpauth: Server %q must be one resource segment", cfg.Server)
	case cfg.Issuer == "" && cfg.Agents == nil:
		return nil, errors.New("mcpauth: Issuer is required")
	case cfg.Authorizer == nil:
		return nil, errors.New("mcpauth: an Authorizer is required")
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	cfg.Resource = u.String()
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"mcp"}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteIP
	}
	if cfg.DPoPNonces && len(cfg.DPoPNonceSecret) == 0 {
		cfg.DPoPNonceSecret = []byte(rand.Text())
	}
	g := &Guard{cfg: cfg, resource: u, log: cfg.Logger, dpopSeen: dpop.NewCache(dpopCacheSize)}
	g.metaURL = u.Scheme + "://" + u.Host + g.MetadataPath()
	g.keys = &keySet{issuer: cfg.Issuer, url: cfg.JWKSURL, http: cfg.HTTPClient, now: cfg.Now}
	return g, nil
}

// MetadataPath is where the protected resource metadata lives (RFC 9728 section 3.1):
// the well-known prefix followed by the resource's path.
func (g *Guard) MetadataPath() string {
	return wellKnown + strings.TrimSuffix(g.resource.EscapedPath(), "/")
}

const wellKnown = "/.well-known/oauth-protected-resource"

// Mount registers the MCP handler at the resource's path and the metadata at both its
// path-inserted and root well-known URLs.
func (g *Guard) Mount(mux *http.ServeMux, mcp http.Handler) {
	path := g.resource.Path
	if path == "" {
		path = "/"
	}
	mux.Handle(path, g.Wrap(mcp))
	if g.cfg.Issuer == "" {
		return
	}
	mux.Handle(g.MetadataPath(), g.MetadataHandler())
	if g.MetadataPath() != wellKnown {
		mux.Handle(wellKnown, g.MetadataHandler())
	}
}

// Metadata is the RFC 9728 protected resource metadata document.
type Metadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	// DPoPSigningAlgValuesSupported are the algorithms of the DPoP proofs this server checks.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

// MetadataHandler serves the protected resource metadata to anyone, with CORS for browser
// clients.
func (g *Guard) MetadataHandler() http.Handler {
	doc, _ := json.Marshal(Metadata{
		Resource: g.cfg.Resource, AuthorizationServers: []string{g.cfg.Issuer}, ScopesSupported: g.cfg.Scopes,
		BearerMethodsSupported: []string{"header"}, ResourceName: g.cfg.ResourceName,
		DPoPSigningAlgValuesSupported: dpop.AlgorithmNames(),
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodOptions:
			h.Set("Access-Control-Allow-Methods", "GET")
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			h.Set("Allow", "GET")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(doc)
	})
}

// Wrap requires a valid token on every request to next, and authorizes every tools/call.
// next never sees the token: the Authorization header is removed, and the verified claims
// are in the request's context (ClaimsFrom).
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r) // CORS preflights carry no credentials
			return
		}
		r = r.WithContext(tracecontext.Continue(r.Context(), propagation.HeaderCarrier(r.Header)))
		token, isDPoP, ok := credentials(r)
		if !ok {
			g.challenge(w, http.StatusUnauthorized, &refusal{})
			return
		}
		claims, err := g.authenticateRequest(r.Context(), r, token, isDPoP)
		var refused *refusal
		switch {
		case errors.As(err, &refused):
			g.challenge(w, http.StatusUnauthorized, refused)
			return
		case err != nil:
			g.log.ErrorContext(r.Context(), "mcpauth: cannot verify tokens", "error", err)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "tokens cannot be checked now: Kavach is unavailable", http.StatusServiceUnavailable)
			return
		}
		if err := g.scopesMissing(claims.Scopes); err != nil {
			g.challenge(w, http.StatusForbidden, &refusal{code: "insufficient_scope", description: err.Error(), dpop: isDPoP})
			return
		}
		if isDPoP {
			g.setDPoPNonce(w)
		}
		r = r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims))
		r.Header.Del("Authorization")
		r.Header.Del("DPoP")
		if r.Method == http.MethodPost && !g.authorizeCalls(w, r, claims) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// VerifyAccessToken checks a token as Wrap does (signature, issuer, audience = this
// resource, expiry, the required scopes) and returns the agent it names. Other adapters
// use it to accept Kavach OAuth access tokens (adapters/nethttp.AccessTokenVerifier). A
// token bound to a DPoP key is refused: without the request its proof cannot be checked
// (see VerifyRequest).
func (g *Guard) VerifyAccessToken(ctx context.Context, token string) (string, error) {
	claims, err := g.authenticate(ctx, token)
	if err != nil {
		return "", err
	}
	if claims.JKT != "" {
		return "", errors.New("the token is bound to a DPoP key: its proof must be checked with the request")
	}
	if err := g.scopesMissing(claims.Scopes); err != nil {
		return "", err
	}
	return claims.AgentID, nil
}

// scopesMissing names every required scope a token lacks, so that one challenge tells the
// client all it must ask for; nil when it has them all.
func (g *Guard) scopesMissing(granted []string) error {
	var missing []string
	for _, s := range g.cfg.Scopes {
		if !slices.Contains(granted, s) {
			missing = append(missing, s)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return errors.New("the token lacks scope " + missing[0])
	}
	return errors.New("the token lacks scopes " + strings.Join(missing, ", "))
}

// challenge answers 401 or 403 with RFC 6750's WWW-Authenticate, pointing at the metadata
// and naming the scopes needed, or with RFC 9449's DPoP challenge, which names the proof
// algorithms too. A refusal without a code means no credentials were sent.
func (g *Guard) challenge(w http.ResponseWriter, status int, why *refusal) {
	params := []string{fmt.Sprintf("scope=%q", strings.Join(g.cfg.Scopes, " "))}
	if g.cfg.Issuer != "" {
		params = append([]string{fmt.Sprintf("resource_metadata=%q", g.metaURL)}, params...)
	}
	if why.code != "" {
		params = append(params, fmt.Sprintf("error=%q", why.code), fmt.Sprintf("error_description=%q", strings.ReplaceAll(why.description, `"`, "'")))
	}
	scheme := "Bearer "
	if why.dpop {
		scheme = "DPoP "
		params = append(params, dpopAlgs())
		g.setDPoPNonce(w)
	}
	h := w.Header()
	h.Set("WWW-Authenticate", scheme+strings.Join(params, ", "))
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	body := map[string]string{"error": why.code, "error_description": why.description}
	if why.code == "" { // no credentials: RFC 6750 section 3.1 names no error
		body = map[string]string{"error_description": "a bearer token is required"}
	}
	_ = json.NewEncoder(w).Encode(body)
}

// authenticate checks an agent token with Kavach, or verifies an access token.
func (g *Guard) authenticate(ctx context.Context, token string) (*Claims, error) {
	if g.cfg.Agents == nil || !strings.HasPrefix(token, agent.TokenPrefix) {
		if g.cfg.Issuer == "" {
			return nil, errors.New("only Kavach agent tokens are accepted")
		}
		return g.verify(ctx, token)
	}
	if g.cfg.Actor != nil {
		ctx = api.WithActor(ctx, *g.cfg.Actor)
	}
	a, err := g.cfg.Agents.ValidateToken(ctx, token)
	if api.IsUnauthenticated(err) || api.IsInvalidInput(err) { // a token Kavach will not even look up is not valid
		return nil, err
	}
	if err != nil {
		return nil, &agentsUnavailable{err}
	}
	// The agent's permissions alone decide; its token stands in for the scopes.
	return &Claims{Subject: a.OwnerID, AgentID: a.ID, TenantID: a.TenantID, Scopes: g.cfg.Scopes}, nil
}

// agentsUnavailable says Kavach could not be asked about an agent token.
type agentsUnavailable struct{ err error }

func (e *agentsUnavailable) Error() string { return "validating the agent token: " + e.err.Error() }
func (e *agentsUnavailable) Unwrap() error { return e.err }

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}

// Claims are what a verified token says.
type Claims struct {
	Subject  string    // the user the agent acts for
	ClientID string    // the OAuth client
	AgentID  string    // the Kavach agent that acts
	TenantID string    // the agent's tenant
	Scopes   []string  // granted scopes
	Audience []string  // resources the token is for
	Expiry   time.Time // when the token stops being valid
	ID       string    // the token's id (jti)
	JKT      string    // the DPoP key the token is bound to (cnf.jkt), if any
}

type claimsKey struct{}

// ClaimsFrom returns the verified claims of the request a Guard let through.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}
