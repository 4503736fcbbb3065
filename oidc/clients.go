package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/store"
)

// ClientMetadata is a client's registered metadata (RFC 7591 section 2), as a registration
// request, a registration response and a client ID metadata document carry it.
type ClientMetadata struct {
	ClientID                string   `json:"client_id,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Contacts                []string `json:"contacts,omitempty"`
	TOSURI                  string   `json:"tos_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	ApplicationType         string   `json:"application_type,omitempty"`
}

// Token endpoint authentication methods a client may register.
const (
	authNone   = "none"
	authBasic  = "client_secret_basic"
	authPost   = "client_secret_post"
	maxURILen  = 2000
	maxURIs    = 20
	maxNameLen = 200
)

// registrationError is an RFC 7591 section 3.2.2 error.
type registrationError struct{ code, description string }

func (e *registrationError) Error() string { return e.code + ": " + e.description }

func invalidMetadata(format string, args ...any) error {
	return &registrationError{"invalid_client_metadata", fmt.Sprintf(format, args...)}
}

func invalidRedirect(format string, args ...any) error {
	return &registrationError{"invalid_redirect_uri", fmt.Sprintf(format, args...)}
}

// normalize fills defaults and checks the metadata. document says it comes from a client ID
// metadata document, where no shared secret can exist.
func (m *ClientMetadata) normalize(document bool) error {
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{string(oidc.GrantTypeCode)}
	}
	// A client that only exchanges tokens is never redirected to.
	if slices.Contains(m.GrantTypes, string(oidc.GrantTypeCode)) || len(m.RedirectURIs) > 0 {
		if err := checkRedirectURIs(m.RedirectURIs); err != nil {
			return err
		}
	}
	switch m.TokenEndpointAuthMethod {
	case "":
		m.TokenEndpointAuthMethod = authBasic
		if document {
			m.TokenEndpointAuthMethod = authNone
		}
	case authNone:
	case authBasic, authPost:
		if document {
			return invalidMetadata("a metadata document cannot use a client secret: token_endpoint_auth_method must be none")
		}
	default:
		return invalidMetadata("token_endpoint_auth_method %q is not supported (none, client_secret_basic, client_secret_post)", m.TokenEndpointAuthMethod)
	}
	for _, g := range m.GrantTypes {
		if g != string(oidc.GrantTypeCode) && g != string(oidc.GrantTypeRefreshToken) && g != string(oidc.GrantTypeTokenExchange) {
			return invalidMetadata("grant type %q is not supported (authorization_code, refresh_token, %s)", g, oidc.GrantTypeTokenExchange)
		}
	}
	if !slices.Contains(m.GrantTypes, string(oidc.GrantTypeCode)) && !slices.Contains(m.GrantTypes, string(oidc.GrantTypeTokenExchange)) {
		return invalidMetadata("grant_types must include authorization_code or %s", oidc.GrantTypeTokenExchange)
	}
	if m.RedirectURIs == nil {
		m.RedirectURIs = []string{} // an array, even when a token-exchange client has none
	}
	// The code response type goes with the authorization_code grant (RFC 7591 section 2.1),
	// and a client without that grant never uses the authorization endpoint.
	switch code := slices.Contains(m.GrantTypes, string(oidc.GrantTypeCode)); {
	case code && len(m.ResponseTypes) == 0:
		m.ResponseTypes = []string{string(oidc.ResponseTypeCode)}
	case code && (len(m.ResponseTypes) != 1 || m.ResponseTypes[0] != string(oidc.ResponseTypeCode)):
		return invalidMetadata("response_types must be [\"code\"]")
	case !code && len(m.ResponseTypes) > 0:
		return invalidMetadata("response_types must be empty without the authorization_code grant")
	case !code:
		m.ResponseTypes = []string{}
	}
	if err := m.checkApplicationType(); err != nil {
		return err
	}
	if !printable(m.ClientName, maxNameLen) || !printable(m.Scope, 1000) || !printable(m.SoftwareID, maxNameLen) ||
		!printable(m.SoftwareVersion, maxNameLen) || len(m.Contacts) > maxURIs {
		return invalidMetadata("client_name, scope, software_id, software_version or contacts is too long or holds control characters")
	}
	for _, c := range m.Contacts {
		if !printable(c, maxNameLen) {
			return invalidMetadata("a contact is too long or holds control characters")
		}
	}
	for name, u := range map[string]string{"client_uri": m.ClientURI, "logo_uri": m.LogoURI, "tos_uri": m.TOSURI, "policy_uri": m.PolicyURI} {
		if u != "" && !webURL(u) {
			return invalidMetadata("%s must be an absolute http(s) URL", name)
		}
	}
	return nil
}

// checkRedirectURIs enforces what MCP asks of redirect URIs: registered, absolute, https or
// loopback http, and without a fragment.
func checkRedirectURIs(uris []string) error {
	if len(uris) == 0 || len(uris) > maxURIs {
		return invalidRedirect("between 1 and %d redirect_uris are required", maxURIs)
	}
	for _, raw := range uris {
		u, err := url.Parse(raw)
		switch {
		case err != nil || len(raw) > maxURILen || u.Host == "" || u.User != nil:
			return invalidRedirect("redirect URI %q is not an absolute URL", raw)
		case u.Fragment != "" || strings.Contains(raw, "#"):
			return invalidRedirect("redirect URI %q must not contain a fragment", raw)
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		default:
			return invalidRedirect("redirect URI %q must use https, or http on localhost or a loopback address", raw)
		}
	}
	return nil
}

// isLoopbackHost reports whether a host name is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func webURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && len(raw) <= maxURILen && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

func printable(s string, max int) bool {
	return len(s) <= max && strings.IndexFunc(s, unicode.IsControl) < 0
}

// client is a registered client or one described by a metadata document, as op sees it.
type client struct {
	id         string
	secretHash string
	meta       ClientMetadata
	document   bool // described by a client ID metadata document
	idTTL      time.Duration
	allowed    func(scope string) bool
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                        { return c.id }
func (c *client) RedirectURIs() []string               { return c.meta.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string     { return nil }
func (c *client) ApplicationType() op.ApplicationType  { return op.ApplicationTypeNative }
func (c *client) AuthMethod() oidc.AuthMethod          { return oidc.AuthMethod(c.meta.TokenEndpointAuthMethod) }
func (c *client) LoginURL(id string) string            { return "" }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *client) IDTokenLifetime() time.Duration       { return c.idTTL }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(scope string) bool     { return c.allowed(scope) }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	out := make([]oidc.ResponseType, len(c.meta.ResponseTypes))
	for i, t := range c.meta.ResponseTypes {
		out[i] = oidc.ResponseType(t)
	}
	return out
}

func (c *client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, len(c.meta.GrantTypes))
	for i, g := range c.meta.GrantTypes {
		out[i] = oidc.GrantType(g)
	}
	return out
}

// name is what the consent page calls the client.
func (c *client) name() string {
	if c.meta.ClientName != "" {
		return c.meta.ClientName
	}
	return c.id
}

// client finds a client: a URL is a client ID metadata document, fetched (or cached); any
// other id a registered client. An unknown or invalid client is an invalid_client OAuth
// error; a failure of ours a server_error.
func (p *Provider) client(ctx context.Context, id string) (*client, error) {
	if strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://") {
		if p.cfg.DisableMetadataDocuments {
			return nil, oidc.ErrInvalidClient().WithDescription("client ID metadata documents are not accepted here")
		}
		meta, err := p.docs.get(ctx, id)
		if err != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("client metadata document: %s", err.Error())
		}
		return p.newClient(id, "", *meta, true), nil
	}
	stored, err := p.store.GetOAuthClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client_id")
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	var meta ClientMetadata
	if err := json.Unmarshal([]byte(stored.Metadata), &meta); err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return p.newClient(id, stored.SecretHash, meta, false), nil
}

func (p *Provider) newClient(id, secretHash string, meta ClientMetadata, document bool) *client {
	return &client{id: id, secretHash: secretHash, meta: meta, document: document, idTTL: p.cfg.IDTokenTTL, allowed: p.scopeOffered}
}
