package oidc

import (
	"context"
	"net/http"
	"slices"
	"sort"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/internal/dpop"
)

// metadataServer answers RFC 8414 and OpenID discovery in every URL form the standards
// define for the issuer: /.well-known/oauth-authorization-server{path},
// /.well-known/openid-configuration{path} and {path}/.well-known/openid-configuration.
type metadataServer struct {
	op.UnimplementedMetadataServer
	p *Provider
}

func (m *metadataServer) OpenIDConfiguration(ctx context.Context, r *op.Request[op.MetadataRequest]) (*op.Response, error) {
	return m.answer(ctx, r)
}

func (m *metadataServer) AuthorizationServerMetadata(ctx context.Context, r *op.Request[op.MetadataRequest]) (*op.Response, error) {
	return m.answer(ctx, r)
}

// answer serves the document for this issuer's path only, as RFC 8414 section 3.3 asks.
func (m *metadataServer) answer(ctx context.Context, r *op.Request[op.MetadataRequest]) (*op.Response, error) {
	if r.Data.IssuerPath != m.p.issuerPath {
		return nil, op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("no authorization server with this issuer"), http.StatusNotFound)
	}
	return m.p.metadataResponse(ctx)
}

// serverMetadata is the discovery document: OpenID's fields, plus RFC 9207's, RFC 9449's
// and the ID-JAG draft's.
type serverMetadata struct {
	*oidc.DiscoveryConfiguration
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	AuthorizationGrantProfilesSupported        []string `json:"authorization_grant_profiles_supported,omitempty"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported"`
}

func (p *Provider) metadataResponse(ctx context.Context) (*op.Response, error) {
	resp := op.NewResponse(p.metadata())
	resp.Header.Set("Cache-Control", "public, max-age=300")
	return resp, nil
}

// metadata describes what the server supports, and only that.
func (p *Provider) metadata() *serverMetadata {
	authMethods := []oidc.AuthMethod{oidc.AuthMethodNone, oidc.AuthMethodBasic, oidc.AuthMethodPost}
	d := &oidc.DiscoveryConfiguration{
		Issuer:                                    p.issuer,
		AuthorizationEndpoint:                     p.endpoint("/authorize"),
		TokenEndpoint:                             p.endpoint("/token"),
		IntrospectionEndpoint:                     p.endpoint("/introspect"),
		UserinfoEndpoint:                          p.endpoint("/userinfo"),
		RevocationEndpoint:                        p.endpoint("/revoke"),
		JwksURI:                                   p.endpoint("/jwks"),
		ClientIDMetadataDocumentSupported:         !p.cfg.DisableMetadataDocuments,
		ScopesSupported:                           p.scopesSupported(),
		ResponseTypesSupported:                    []string{string(oidc.ResponseTypeCode)},
		ResponseModesSupported:                    []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFragment), string(oidc.ResponseModeFormPost)},
		GrantTypesSupported:                       []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken},
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          []string{string(signingAlgorithm)},
		TokenEndpointAuthMethodsSupported:         authMethods,
		RevocationEndpointAuthMethodsSupported:    authMethods,
		IntrospectionEndpointAuthMethodsSupported: []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost},
		ClaimsSupported:                           []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "auth_time", "nonce", ClaimAgentID, ClaimTenantID},
		CodeChallengeMethodsSupported:             []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256},
	}
	if p.cfg.Delegations != nil {
		d.GrantTypesSupported = append(d.GrantTypesSupported, oidc.GrantTypeTokenExchange)
		d.ClaimsSupported = append(d.ClaimsSupported, "act", "may_act")
	}
	if p.cfg.Registration != RegistrationClosed {
		d.RegistrationEndpoint = p.endpoint("/register")
	}
	m := &serverMetadata{
		DiscoveryConfiguration: d, AuthorizationResponseISSParameterSupported: true,
		DPoPSigningAlgValuesSupported: dpop.AlgorithmNames(),
	}
	p.advertiseIDJAG(m)
	return m
}

// scopesSupported lists the scopes a client may ask for.
func (p *Provider) scopesSupported() []string {
	out := []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}
	for s := range p.cfg.ScopePermissions {
		out = append(out, s)
	}
	sort.Strings(out[2:])
	return out
}

// scopeOffered reports whether a client may be granted scope; others are dropped from
// requests.
func (p *Provider) scopeOffered(scope string) bool {
	return slices.Contains(p.scopesSupported(), scope)
}

// issEncoder adds RFC 9207's iss to every authorization response it encodes, successful or
// not, so that clients talking to several servers can tell which one answered.
type issEncoder struct{ issuer string }

func (e issEncoder) Encode(src any, dst map[string][]string) error {
	if err := oidc.NewEncoder().Encode(src, dst); err != nil {
		return err
	}
	dst["iss"] = []string{e.issuer}
	return nil
}
