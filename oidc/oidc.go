// Package oidc is Kavach's OAuth 2.1 authorization server for MCP clients, built on
// zitadel/oidc's op package. It adds what op lacks: RFC 8414 metadata, dynamic client
// registration (RFC 7591), client ID metadata documents, PKCE S256 for every client, RFC 9207
// iss in authorization responses and RFC 8707 resource indicators bound into the token
// audience. Human login comes from a trusted proxy header, an upstream OpenID provider or a
// development login; a consented (user, client) pair becomes a delegated agent whose id rides
// in the access token, so tool calls go through the permission engine.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/dpop"
	"github.com/kavachos/kavach-go/store"
)

// Registration modes for RFC 7591 dynamic client registration.
const (
	RegistrationOpen   = "open"   // anyone may register a client
	RegistrationToken  = "token"  // registration needs an initial access token
	RegistrationClosed = "closed" // no registration endpoint
)

// DefaultPrefix is where the endpoints live when the issuer has no path of its own.
const DefaultPrefix = "/oauth"

// PermissionTemplate is what a consented scope grants on one resource: "{server}" in
// Resource stands for the resource's MCP server name.
type PermissionTemplate struct {
	Resource string
	Actions  []string
}

// DefaultScopePermissions maps the scope "mcp" to calling every tool of the server.
var DefaultScopePermissions = map[string]PermissionTemplate{
	"mcp": {Resource: "mcp:{server}:*", Actions: []string{"call"}},
}

// Config configures the authorization server. Issuer, Store and Agents are required.
type Config struct {
	// Issuer is the issuer identifier exactly as clients see it ("https://auth.example.com"
	// or "https://example.com/oauth"). Its path, or DefaultPrefix when it has none, is where
	// the endpoints are served. It must be https unless its host is loopback.
	Issuer string
	Store  store.OAuthStore
	// Agents manages the delegated agents that consents create; calls act as an admin of
	// Tenant.
	Agents api.Agents
	// Delegations, if set, offers RFC 8693 token exchange: an agent's token buys a token
	// for a sub-agent through a delegation made here, as the subject agent's owner.
	Delegations api.Delegations
	// MaxExchangeAgents bounds the live agents that token exchanges without an actor_token
	// have made for one subject agent (default 100): each lives until its token expires, and
	// a holder of one valid token could otherwise make them without end.
	MaxExchangeAgents int
	// Tenant owns those agents (default "default").
	Tenant string
	Now    func() time.Time
	Logger *slog.Logger

	AccessTokenTTL  time.Duration // default 10m
	RefreshTokenTTL time.Duration // default 30 days
	IDTokenTTL      time.Duration // default 1h
	CodeTTL         time.Duration // default 1m
	AuthRequestTTL  time.Duration // login and consent must finish within it; default 10m
	// KeyRotation is how long a signing key signs before the next takes over (default 30
	// days); KeyPublishAhead is how long a new key is published before it signs (default 1h).
	KeyRotation, KeyPublishAhead time.Duration

	// Registration is open (default), token or closed; in token mode a request must carry
	// one of InitialAccessTokens as a bearer token.
	Registration        string
	InitialAccessTokens []string
	// DisableMetadataDocuments refuses client ids that are URLs.
	DisableMetadataDocuments bool
	// AllowLoopbackMetadata lets metadata documents live on loopback addresses (also over
	// plain http), for development and tests. Private and link-local addresses stay refused.
	AllowLoopbackMetadata bool
	MetadataTimeout       time.Duration // default 5s
	MetadataMaxBytes      int64         // default 8 KiB
	// MetadataRootCAs, if set, are the CAs metadata documents' servers are checked against
	// instead of the system's (a private CA).
	MetadataRootCAs *x509.CertPool

	// Resources maps the MCP servers' resource URIs to their server names. When empty, any
	// resource is accepted and named by ServerName.
	Resources map[string]string
	// ScopePermissions maps scopes to what a consent grants (default DefaultScopePermissions);
	// its keys are the scopes offered besides openid and offline_access.
	ScopePermissions map[string]PermissionTemplate
	// DefaultScopes are requested when an authorization request names none (default "mcp").
	DefaultScopes []string

	Login LoginConfig

	// TrustedIdPs are the enterprise identity providers whose Identity Assertion JWT
	// Authorization Grants (ID-JAG) the token endpoint redeems with the JWT bearer grant;
	// without any, that grant is not offered.
	TrustedIdPs []TrustedIdP

	// DPoPNonces requires server-provided nonces in DPoP proofs at the token endpoint (RFC
	// 9449 section 8): a proof without a current nonce is refused with use_dpop_nonce, and
	// every token endpoint answer carries the nonce to use in its DPoP-Nonce header. Nonces
	// are derived from the signing keys in the store, so every instance accepts them.
	DPoPNonces bool
}

// LoginConfig says how humans log in at the authorize endpoint. Without any method every
// authorization request fails with access_denied.
type LoginConfig struct {
	// DevLogin offers a form that logs in any user name, for development only.
	DevLogin bool
	// DevAutoApprove logs in DevUser and approves at once, redirecting straight back with
	// the code: headless clients and conformance tools need no browser. Needs DevLogin.
	DevAutoApprove bool
	DevUser        string // default "dev-user"
	// ProxyHeader names the header a trusted reverse proxy sets to the logged-in user; it is
	// believed only from the TrustedProxies addresses or CIDRs.
	ProxyHeader    string
	TrustedProxies []string
	// Upstream, if its Issuer is set, logs users in at an upstream OpenID provider.
	Upstream UpstreamConfig
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.AccessTokenTTL, 10*time.Minute)
	set(&c.RefreshTokenTTL, 30*24*time.Hour)
	set(&c.IDTokenTTL, time.Hour)
	set(&c.CodeTTL, time.Minute)
	set(&c.AuthRequestTTL, 10*time.Minute)
	set(&c.KeyRotation, 30*24*time.Hour)
	set(&c.KeyPublishAhead, time.Hour)
	set(&c.MetadataTimeout, 5*time.Second)
	if c.MetadataMaxBytes <= 0 {
		c.MetadataMaxBytes = 8 << 10
	}
	if c.Tenant == "" {
		c.Tenant = agent.DefaultTenant
	}
	if c.MaxExchangeAgents <= 0 {
		c.MaxExchangeAgents = 100
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registration == "" {
		c.Registration = RegistrationOpen
	}
	if c.ScopePermissions == nil {
		c.ScopePermissions = DefaultScopePermissions
	}
	if c.DefaultScopes == nil {
		c.DefaultScopes = []string{"mcp"}
	}
	if c.Login.DevUser == "" {
		c.Login.DevUser = "dev-user"
	}
}

// Provider is the authorization server. It is an http.Handler for the paths Paths lists.
type Provider struct {
	cfg        Config
	issuer     string
	issuerPath string // "" or "/oauth"
	prefix     string // where the endpoints live: issuerPath, or DefaultPrefix
	log        *slog.Logger
	store      store.OAuthStore
	keys       *keyRing
	docs       *documentFetcher
	storage    *storage
	server     *server
	op         http.Handler
	meta       http.Handler
	enc        issEncoder
	proxies    []netip.Prefix
	upstream   *upstream
	idps       map[string]*idpKeys // trusted identity providers by issuer
	login      http.Handler        // the login, consent and callback routes
	pruneMu    sync.Mutex
	lastPruned time.Time
	dpopSeen   *dpop.Cache // DPoP proofs accepted within their iat window
}

// New builds the provider.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	cfg.defaults()
	iss, err := parseIssuer(cfg.Issuer)
	if err != nil {
		return nil, err
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Store == nil || cfg.Agents == nil {
		return nil, errors.New("oauth: Store and Agents are required")
	}
	p := &Provider{cfg: cfg, issuer: cfg.Issuer, issuerPath: iss.Path, prefix: iss.Path, log: cfg.Logger, store: cfg.Store}
	if p.prefix == "" {
		p.prefix = DefaultPrefix
	}
	p.enc = issEncoder{issuer: p.issuer}
	p.dpopSeen = dpop.NewCache(dpopCacheSize)
	p.keys = newKeyRing(cfg.Store, cfg.Now, cfg.KeyRotation, cfg.KeyPublishAhead, cfg.IDTokenTTL+cfg.AccessTokenTTL)
	p.docs = newDocumentFetcher(cfg.AllowLoopbackMetadata, cfg.MetadataTimeout, cfg.MetadataMaxBytes, cfg.Now)
	p.docs.trust(cfg.MetadataRootCAs)
	for _, s := range cfg.Login.TrustedProxies {
		pfx, err := agent.ParseIPOrPrefix(s)
		if err != nil {
			return nil, fmt.Errorf("oauth: trusted proxy %q: %w", s, err)
		}
		p.proxies = append(p.proxies, pfx)
	}
	if cfg.Login.Upstream.Issuer != "" {
		if p.upstream, err = newUpstream(ctx, cfg.Login.Upstream, p.endpoint("/login/callback")); err != nil {
			return nil, err
		}
	}
	p.idps = trustedIdPs(cfg.TrustedIdPs, cfg.Now, cfg.Logger)
	if err := p.buildOP(); err != nil {
		return nil, err
	}
	p.login = p.loginRoutes()
	return p, nil
}

// check validates the settings that New cannot default.
func (c *Config) check() error {
	switch c.Registration {
	case RegistrationOpen, RegistrationClosed:
	case RegistrationToken:
		if len(c.InitialAccessTokens) == 0 {
			return errors.New("oauth: registration mode token needs at least one initial access token")
		}
	default:
		return fmt.Errorf("oauth: registration mode %q: want open, token or closed", c.Registration)
	}
	if c.Login.DevAutoApprove && !c.Login.DevLogin {
		return errors.New("oauth: auto-approve needs the dev login")
	}
	if err := agent.ValidateIdentifier("dev user", c.Login.DevUser); err != nil {
		return fmt.Errorf("oauth: %w", err)
	}
	canonical := make(map[string]string, len(c.Resources))
	for uri, name := range c.Resources {
		res, err := canonicalResource(uri)
		if err != nil {
			return fmt.Errorf("oauth: resource %q: %w", uri, err)
		}
		if !validServerName(name) {
			return fmt.Errorf("oauth: resource %q: server name %q must be one resource segment (no ':', '*' or spaces)", uri, name)
		}
		canonical[res] = name
	}
	c.Resources = canonical
	if err := c.checkTrustedIdPs(); err != nil {
		return err
	}
	for scope, tpl := range c.ScopePermissions {
		probe := strings.ReplaceAll(tpl.Resource, "{server}", "probe")
		if err := agent.ValidateResourcePattern(probe); err != nil || len(tpl.Actions) == 0 || strings.ContainsAny(scope, " \"\\") {
			return fmt.Errorf("oauth: scope %q: permission %q %v is not valid", scope, tpl.Resource, tpl.Actions)
		}
	}
	return nil
}

// parseIssuer checks an issuer: https (or http on a loopback host), a host, no query or
// fragment, no trailing slash, and a path that does not collide with Kavach's own routes.
func parseIssuer(issuer string) (*url.URL, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("oauth: issuer %q must be an absolute https URL without query or fragment", issuer)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname())) {
		return nil, fmt.Errorf("oauth: issuer %q must use https (http only on a loopback host)", issuer)
	}
	if strings.HasSuffix(u.Path, "/") || u.RawPath != "" {
		return nil, fmt.Errorf("oauth: issuer %q must not end in '/' or contain escaped characters", issuer)
	}
	first := strings.SplitN(strings.TrimPrefix(u.Path, "/"), "/", 2)[0]
	switch first {
	case "v1", "healthz", "readyz", "metrics", ".well-known":
		return nil, fmt.Errorf("oauth: issuer path %q collides with Kavach's routes", u.Path)
	}
	return u, nil
}

// Issuer returns the issuer identifier.
func (p *Provider) Issuer() string { return p.issuer }

// Paths lists the HTTP route patterns (Echo syntax) to hand to the provider: its prefix
// and the well-known metadata paths.
func (p *Provider) Paths() []string {
	return []string{p.prefix, p.prefix + "/*", "/.well-known/*"}
}

// Endpoints lists the exact paths the provider answers, for naming their trace spans: its
// OAuth endpoints under the prefix and the metadata documents of its issuer.
func (p *Provider) Endpoints() []string {
	var out []string
	for _, route := range []string{"/authorize", "/authorize/callback", "/token", "/revoke", "/introspect",
		"/userinfo", "/keys", "/register", "/login", "/login/callback", "/consent", "/end_session"} {
		out = append(out, p.prefix+route)
	}
	return append(out, "/.well-known/oauth-authorization-server"+p.issuerPath,
		"/.well-known/openid-configuration"+p.issuerPath, p.issuerPath+"/.well-known/openid-configuration")
}

// endpoint returns the absolute URL of one of the provider's own routes ("/authorize").
func (p *Provider) endpoint(route string) string {
	return p.issuer + strings.TrimPrefix(p.prefix, p.issuerPath) + route
}

// ServeHTTP serves metadata under /.well-known and everything else under the prefix.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasPrefix(path, "/.well-known/") || path == p.issuerPath+"/.well-known/openid-configuration" {
		p.meta.ServeHTTP(w, r)
		return
	}
	if path != p.prefix && !strings.HasPrefix(path, p.prefix+"/") {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	switch strings.TrimPrefix(path, p.prefix) {
	case "/token", "/introspect", "/revoke", "/register", "/userinfo":
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
	}
	switch strings.TrimPrefix(path, p.prefix) {
	case "/register":
		p.registerHandler().ServeHTTP(w, r)
	case "/login", "/login/callback", "/consent":
		p.login.ServeHTTP(w, r)
	case "/userinfo":
		p.challengeBearer(w, r, http.StripPrefix(p.issuerPath, p.op))
	case "/token", "/revoke", "/introspect":
		preflight := r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
		if r.Method != http.MethodPost && !preflight {
			// RFC 6749 section 3.2, RFC 7009 and RFC 7662: these take POST, so that codes,
			// secrets and tokens never travel in a URL (and so into logs and Referer).
			h.Set("Allow", "POST, OPTIONS")
			writeOAuthJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "use POST"})
			return
		}
		if path == p.prefix+"/token" {
			p.setDPoPNonce(w, r)
		}
		p.challengeClients(w, r, strings.TrimPrefix(path, p.prefix), http.StripPrefix(p.issuerPath, p.op))
	default:
		http.StripPrefix(p.issuerPath, p.op).ServeHTTP(w, r)
	}
}

// maxBodyBytes bounds every request body the provider reads.
const maxBodyBytes = 64 << 10

// now is the clock at the precision the stores keep.
func (p *Provider) now() time.Time { return p.cfg.Now().UTC().Truncate(time.Microsecond) }

// prune deletes expired requests and tokens at most every ten minutes, a day after they
// expired (so that a late replay is still recognised until then).
func (p *Provider) prune(ctx context.Context) {
	p.pruneMu.Lock()
	now := p.now()
	due := now.Sub(p.lastPruned) >= 10*time.Minute
	if due {
		p.lastPruned = now
	}
	p.pruneMu.Unlock()
	if !due {
		return
	}
	if n, err := p.store.PruneOAuth(ctx, now.Add(-24*time.Hour)); err != nil {
		p.log.WarnContext(ctx, "pruning OAuth state failed", "error", err)
	} else if n > 0 {
		p.log.DebugContext(ctx, "pruned OAuth state", "rows", n)
	}
}

// randomSecret returns a prefixed secret of 32 random bytes, base64url.
func randomSecret(prefix string) string {
	return prefix + rand.Text() + rand.Text()
}

// buildOP builds zitadel's provider and the server that extends it.
func (p *Provider) buildOP() error {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return err
	}
	p.storage = &storage{p: p}
	opts := []op.Option{}
	if strings.HasPrefix(p.issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey: key, CodeMethodS256: true, AuthMethodPost: true, GrantTypeRefreshToken: true,
		SupportedScopes: p.scopesSupported(),
	}, p.storage, op.StaticIssuer(p.issuer), opts...)
	if err != nil {
		return fmt.Errorf("oauth: %w", err)
	}
	rel := strings.TrimPrefix(p.prefix, p.issuerPath)
	endpoints := op.Endpoints{
		Authorization: op.NewEndpoint(rel + "/authorize"), Token: op.NewEndpoint(rel + "/token"),
		Introspection: op.NewEndpoint(rel + "/introspect"), Userinfo: op.NewEndpoint(rel + "/userinfo"),
		Revocation: op.NewEndpoint(rel + "/revoke"), JwksURI: op.NewEndpoint(rel + "/jwks"),
	}
	p.server = &server{LegacyServer: op.NewLegacyServer(provider, endpoints), p: p}
	p.op = op.RegisterLegacyServer(p.server, notFound, op.WithEncoder(p.enc), op.WithServerCORSOptions(corsOptions()))
	p.meta = op.RegisterMetadataServer(&metadataServer{p: p}, op.WithServerCORSOptions(corsOptions()))
	return nil
}

// notFound answers the authorize callback route of op, which this server never uses: the
// login and consent pages answer the client themselves.
func notFound(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
