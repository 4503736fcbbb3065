package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/pflag"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/oidc"
	"github.com/kavachos/kavach-go/service"
)

// oauthConfig is the OAuth authorization server's part of serveConfig. It is off unless
// Issuer is set.
type oauthConfig struct {
	Issuer                string        `yaml:"issuer"`
	DevLogin              bool          `yaml:"devLogin"`
	DevAutoApprove        bool          `yaml:"devLoginAutoApprove"`
	DevUser               string        `yaml:"devLoginUser"`
	Registration          string        `yaml:"oauthRegistration"`
	InitialAccessTokens   listValue     `yaml:"oauthInitialAccessTokens"`
	AllowLoopbackMetadata bool          `yaml:"oauthAllowLoopbackMetadata"`
	Resources             listValue     `yaml:"oauthResources"`
	Tenant                string        `yaml:"oauthTenant"`
	AccessTokenTTL        time.Duration `yaml:"oauthAccessTokenTTL"`
	ProxyHeader           string        `yaml:"loginProxyHeader"`
	UpstreamIssuer        string        `yaml:"upstreamIssuer"`
	UpstreamClientID      string        `yaml:"upstreamClientID"`
	UpstreamClientSecret  string        `yaml:"upstreamClientSecret"`
	UpstreamScopes        listValue     `yaml:"upstreamScopes"`
	UpstreamUserClaim     string        `yaml:"upstreamUserClaim"`
	TrustedIdPs           listValue     `yaml:"trustedIdPs"`
	DPoPNonces            bool          `yaml:"dpopNonces"`
}

var oauthServeFlags = []serveFlag{
	{"issuer", "KAVACH_ISSUER"}, {"dev-login", "KAVACH_DEV_LOGIN"}, {"dev-login-auto-approve", "KAVACH_DEV_LOGIN_AUTO_APPROVE"},
	{"dev-login-user", "KAVACH_DEV_LOGIN_USER"}, {"oauth-registration", "KAVACH_OAUTH_REGISTRATION"},
	{"oauth-initial-access-tokens", "KAVACH_OAUTH_INITIAL_ACCESS_TOKENS"},
	{"oauth-allow-loopback-metadata", "KAVACH_OAUTH_ALLOW_LOOPBACK_METADATA"}, {"oauth-resource", "KAVACH_OAUTH_RESOURCE"},
	{"oauth-tenant", "KAVACH_OAUTH_TENANT"}, {"oauth-access-token-ttl", "KAVACH_OAUTH_ACCESS_TOKEN_TTL"},
	{"login-proxy-header", "KAVACH_LOGIN_PROXY_HEADER"}, {"upstream-issuer", "KAVACH_UPSTREAM_ISSUER"},
	{"upstream-client-id", "KAVACH_UPSTREAM_CLIENT_ID"}, {"upstream-client-secret", "KAVACH_UPSTREAM_CLIENT_SECRET"},
	{"upstream-scopes", "KAVACH_UPSTREAM_SCOPES"}, {"upstream-user-claim", "KAVACH_UPSTREAM_USER_CLAIM"},
	{"trusted-idp", "KAVACH_TRUSTED_IDP"}, {"dpop-nonces", "KAVACH_DPOP_NONCES"},
}

// The OAuth flags read their environment variables like every other serve flag.
func init() { serveFlags = append(serveFlags, oauthServeFlags...) }

func bindOAuthFlags(fs *pflag.FlagSet, c *oauthConfig) {
	fs.StringVar(&c.Issuer, "issuer", "", "run the OAuth 2.1 authorization server for MCP clients with this issuer URL, exactly as clients see it (https, or http on loopback); off when empty (env KAVACH_ISSUER)")
	fs.BoolVar(&c.DevLogin, "dev-login", false, "development only: a login form that accepts any user name (env KAVACH_DEV_LOGIN)")
	fs.BoolVar(&c.DevAutoApprove, "dev-login-auto-approve", false, "with --dev-login: log in --dev-login-user and approve at once, redirecting straight back with the code (headless clients, conformance tools) (env KAVACH_DEV_LOGIN_AUTO_APPROVE)")
	fs.StringVar(&c.DevUser, "dev-login-user", "dev-user", "the user auto-approve logs in (env KAVACH_DEV_LOGIN_USER)")
	fs.StringVar(&c.Registration, "oauth-registration", oidc.RegistrationOpen, "dynamic client registration: open, token (needs --oauth-initial-access-tokens) or closed (env KAVACH_OAUTH_REGISTRATION)")
	fs.Var(&c.InitialAccessTokens, "oauth-initial-access-tokens", "comma-separated bearer tokens that may register clients in token mode (env KAVACH_OAUTH_INITIAL_ACCESS_TOKENS)")
	fs.BoolVar(&c.AllowLoopbackMetadata, "oauth-allow-loopback-metadata", false, "fetch client ID metadata documents from loopback addresses too (development) (env KAVACH_OAUTH_ALLOW_LOOPBACK_METADATA)")
	fs.Var(&c.Resources, "oauth-resource", "comma-separated NAME=URI: the MCP servers tokens may be issued for and their names in permissions (mcp:NAME:tool); when none, any resource is accepted (env KAVACH_OAUTH_RESOURCE)")
	fs.StringVar(&c.Tenant, "oauth-tenant", "", "tenant of the agents consents create (default the default tenant) (env KAVACH_OAUTH_TENANT)")
	fs.DurationVar(&c.AccessTokenTTL, "oauth-access-token-ttl", 10*time.Minute, "lifetime of access tokens (env KAVACH_OAUTH_ACCESS_TOKEN_TTL)")
	fs.StringVar(&c.ProxyHeader, "login-proxy-header", "", "header a reverse proxy at --trusted-proxies sets to the logged-in user (env KAVACH_LOGIN_PROXY_HEADER)")
	fs.StringVar(&c.UpstreamIssuer, "upstream-issuer", "", "log users in at this OpenID provider (env KAVACH_UPSTREAM_ISSUER)")
	fs.StringVar(&c.UpstreamClientID, "upstream-client-id", "", "Kavach's client id there (env KAVACH_UPSTREAM_CLIENT_ID)")
	fs.StringVar(&c.UpstreamClientSecret, "upstream-client-secret", "", "Kavach's client secret there (env KAVACH_UPSTREAM_CLIENT_SECRET)")
	fs.Var(&c.UpstreamScopes, "upstream-scopes", "scopes to ask the upstream provider for (default openid) (env KAVACH_UPSTREAM_SCOPES)")
	fs.StringVar(&c.UpstreamUserClaim, "upstream-user-claim", "sub", "ID token claim that names the user (env KAVACH_UPSTREAM_USER_CLAIM)")
	fs.Var(&repeatedList{list: &c.TrustedIdPs}, "trusted-idp", "ISSUER=JWKS_URL: redeem this enterprise identity provider's ID-JAGs (MCP enterprise-managed authorization) with the jwt-bearer grant; repeatable, or comma-separated (env KAVACH_TRUSTED_IDP)")
	fs.BoolVar(&c.DPoPNonces, "dpop-nonces", false, "require server-provided nonces in DPoP proofs at the token endpoint (RFC 9449 section 8); stateless, so every instance agrees (env KAVACH_DPOP_NONCES)")
}

// oidcConfig turns the settings into the provider's configuration.
func (c *oauthConfig) oidcConfig(trustedProxies []string) (oidc.Config, error) {
	if c.Issuer == "" {
		if c.DevLogin || c.DevAutoApprove || c.UpstreamIssuer != "" || c.ProxyHeader != "" || len(c.TrustedIdPs) > 0 || c.DPoPNonces {
			return oidc.Config{}, errors.New("the login options, --trusted-idp and --dpop-nonces need --issuer (the OAuth authorization server is off without it)")
		}
		return oidc.Config{}, nil
	}
	resources := map[string]string{}
	for _, r := range c.Resources {
		name, uri, ok := strings.Cut(r, "=")
		if !ok || name == "" || uri == "" {
			return oidc.Config{}, fmt.Errorf("--oauth-resource %q: want NAME=URI", r)
		}
		resources[uri] = name
	}
	idps, err := c.trustedIdPs()
	if err != nil {
		return oidc.Config{}, err
	}
	return oidc.Config{
		Issuer: c.Issuer, Tenant: c.Tenant, AccessTokenTTL: c.AccessTokenTTL, Registration: c.Registration,
		InitialAccessTokens: c.InitialAccessTokens, AllowLoopbackMetadata: c.AllowLoopbackMetadata, Resources: resources,
		TrustedIdPs: idps, DPoPNonces: c.DPoPNonces,
		Login: oidc.LoginConfig{
			DevLogin: c.DevLogin || c.DevAutoApprove, DevAutoApprove: c.DevAutoApprove, DevUser: c.DevUser,
			ProxyHeader: c.ProxyHeader, TrustedProxies: trustedProxies,
			Upstream: oidc.UpstreamConfig{
				Issuer: c.UpstreamIssuer, ClientID: c.UpstreamClientID, ClientSecret: c.UpstreamClientSecret,
				Scopes: c.UpstreamScopes, UserClaim: c.UpstreamUserClaim,
			},
		},
	}, nil
}

// oauthMounts builds the authorization server when an issuer is configured.
func oauthMounts(ctx context.Context, k *kavach.Kavach, cfg serveConfig, log *slog.Logger) ([]service.Mount, error) {
	oc, err := cfg.OAuth.oidcConfig(cfg.TrustedProxies)
	if err != nil || oc.Issuer == "" {
		return nil, err
	}
	// zitadel/oidc logs through the default logger: make it ours.
	slog.SetDefault(log)
	oc.Store, oc.Agents, oc.Delegations, oc.Logger = k.Store(), k.Agents(), k.Delegations(), log
	p, err := oidc.New(ctx, oc)
	if err != nil {
		return nil, err
	}
	if oc.Login.DevLogin {
		log.Warn("the development login is on: anyone can log in as any user", "autoApprove", oc.Login.DevAutoApprove)
	}
	log.Info("OAuth authorization server", "issuer", p.Issuer())
	return []service.Mount{{Paths: p.Paths(), Handler: p, Endpoints: p.Endpoints()}}, nil
}
