package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
)

// RFC 8693 token exchange. An agent's credential (subject_token) buys a token for a
// sub-agent (the actor_token's agent, or a fresh one) holding a subset of the subject's
// rights. The subset is a Kavach delegation made through api.Delegations — the rules of
// coverage, depth, expiry, constraints and cascade are the delegation's — so revoking the
// subject, the delegation or any link above it ends the exchanged token's rights at once.

// AgentTokenType is the token type of a Kavach agent token (kv_…) as subject_token_type
// or actor_token_type.
const AgentTokenType oidc.TokenType = "urn:kavach:params:oauth:token-type:agent-token"

// PermissionDetailsType is the authorization_details type (RFC 9396 shape) that names one
// permission to delegate: {"type": "kavach_permission", "resource": "mcp:github:*",
// "actions": ["call"], "constraints": {…}}.
const PermissionDetailsType = "kavach_permission"

// MetadataMayAct is the agent metadata key naming the one agent that may act for it in a
// token exchange. Tokens exchanged for the agent carry it as may_act (RFC 8693 section
// 4.4), and an exchange whose subject is the agent must name that agent as the actor.
const MetadataMayAct = "oauthMayAct"

// ActionTokenExchange is the management event every exchange writes with its token.
const ActionTokenExchange = "token.exchange"

// zitadel's token endpoint refuses token types it does not know before the request reaches
// the server; Kavach's agent tokens are one more.
func init() { oidc.AllTokenTypes = append(oidc.AllTokenTypes, AgentTokenType) }

// party is the subject or the actor of an exchange: the agent a presented token stands for
// and, for an access token, its record and claims.
type party struct {
	agent     *agent.Agent
	tokenType oidc.TokenType
	token     *store.OAuthToken       // nil for an agent token
	claims    *oidc.AccessTokenClaims // nil for an agent token
}

// exchange is one token exchange as it is decided.
type exchange struct {
	clientID        string
	subject, actor  *party
	scopes          []string
	audience        []string
	perms           []agent.Permission
	expires         time.Time
	delegation      *agent.Delegation
	reused          bool     // an identical live delegation was found
	via             []string // delegation ids, root first
	ephemeralActor  bool     // the exchange created the actor agent
	subjectMayActID string   // the one agent that may act for the subject, if any
}

// TokenExchange answers the token-exchange grant. zitadel has decoded the form,
// authenticated the client and checked that it registered the grant.
func (s *server) TokenExchange(ctx context.Context, r *op.ClientRequest[oidc.TokenExchangeRequest]) (*op.Response, error) {
	p := s.p
	if p.cfg.Delegations == nil {
		return nil, op.NewStatusError(oidc.ErrUnsupportedGrantType().WithDescription("token exchange is not offered by this server"), http.StatusBadRequest)
	}
	jkt, err := p.dpopKey(ctx, r.Method, r.Header)
	if err != nil {
		return nil, err
	}
	x, err := p.prepareExchange(ctx, r.Data, r.Form, jkt)
	if err != nil {
		return nil, err
	}
	x.clientID = r.Client.GetID()
	if err := p.delegateExchange(ctx, x); err != nil {
		return nil, err
	}
	return s.issueExchanged(ctx, x, r.Client, jkt)
}

// prepareExchange checks everything the request says before anything is written: the
// tokens, the scope, the audience, the permissions, the actor and the lifetime. jkt is the
// thumbprint of the request's DPoP key, or "".
func (p *Provider) prepareExchange(ctx context.Context, d *oidc.TokenExchangeRequest, form url.Values, jkt string) (*exchange, error) {
	switch {
	case d.RequestedTokenType != "" && d.RequestedTokenType != oidc.AccessTokenType:
		return nil, oidc.ErrInvalidRequest().WithDescription("requested_token_type: only access tokens are issued")
	case (d.ActorToken == "") != (d.ActorTokenType == ""):
		return nil, oidc.ErrInvalidRequest().WithDescription("actor_token and actor_token_type go together")
	}
	x := &exchange{}
	var err error
	if x.subject, err = p.exchangeParty(ctx, d.SubjectToken, d.SubjectTokenType, "subject_token", jkt); err != nil {
		return nil, err
	}
	if x.scopes, err = p.exchangeScopes(x.subject, d.Scopes); err != nil {
		return nil, err
	}
	if x.audience, err = p.exchangeAudience(x.subject, append(slices.Clone(d.Resource), d.Audience...)); err != nil {
		return nil, err
	}
	if x.perms, err = p.exchangePermissions(form["authorization_details"], x.scopes, x.audience); err != nil {
		return nil, err
	}
	if x.subjectMayActID, err = mayAct(x.subject); err != nil {
		return nil, err
	}
	if d.ActorToken != "" {
		if x.actor, err = p.exchangeParty(ctx, d.ActorToken, d.ActorTokenType, "actor_token", jkt); err != nil {
			return nil, err
		}
	}
	if err := x.checkActor(); err != nil {
		return nil, err
	}
	return x, p.exchangeExpiry(ctx, x)
}

// exchangeParty finds the agent a presented token stands for. The token must be live and
// its agent able to act; an exchanged access token must still be in force. An access token
// bound to a DPoP key is worth nothing without that key (RFC 9449), so the request must
// prove it (jkt is the thumbprint of the request's proof, or ""), and the token issued is
// bound to it in turn.
func (p *Provider) exchangeParty(ctx context.Context, token string, typ oidc.TokenType, field, jkt string) (*party, error) {
	invalid := func(why string) error {
		return oidc.ErrInvalidRequest().WithDescription("%s is not valid: %s", field, why)
	}
	switch typ {
	case AgentTokenType:
		a, err := p.cfg.Agents.ValidateToken(p.admin(ctx), token)
		switch {
		case api.IsUnauthenticated(err) || api.IsInvalidInput(err):
			return nil, invalid("not a live agent token of this server's tenant")
		case err != nil:
			return nil, oidc.ErrServerError().WithParent(err)
		}
		return &party{agent: a, tokenType: typ}, nil
	case oidc.AccessTokenType:
	default:
		return nil, oidc.ErrInvalidRequest().WithDescription("%s_type %q is not accepted: use %s or %s", field, typ, oidc.AccessTokenType, AgentTokenType)
	}
	vctx := op.ContextWithIssuer(ctx, p.issuer)
	claims, err := op.VerifyAccessToken[*oidc.AccessTokenClaims](vctx, token, p.server.Provider().AccessTokenVerifier(vctx))
	if err != nil || claims.JWTID == "" {
		return nil, invalid("not an access token of this server")
	}
	if err := checkBinding(boundKey(claims), jkt, "the "+field,
		invalid("it is bound to a DPoP key: send a DPoP proof of that key")); err != nil {
		return nil, err
	}
	t, err := p.store.GetOAuthToken(ctx, claims.JWTID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && t.Kind != store.OAuthAccessToken):
		return nil, invalid("unknown access token")
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	case !t.Live(p.now()):
		return nil, invalid("the access token is expired or revoked")
	}
	a, err := p.tokenAgent(ctx, t)
	switch {
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	case a == nil:
		return nil, invalid("its agent, or a delegation it was issued through, was revoked or has expired")
	}
	return &party{agent: a, tokenType: typ, token: t, claims: claims}, nil
}

// exchangeScopes returns the scopes asked for, or the subject's: an access token's scopes
// bound them; an agent token may ask for any scope offered.
func (p *Provider) exchangeScopes(subject *party, requested []string) ([]string, error) {
	if len(requested) == 0 {
		if subject.token != nil {
			return subject.token.Scopes, nil
		}
		return p.cfg.DefaultScopes, nil
	}
	var out []string
	for _, sc := range requested {
		switch {
		case subject.token != nil && !slices.Contains(subject.token.Scopes, sc):
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not granted to the subject token", sc)
		case subject.token == nil && !p.scopeOffered(sc):
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not offered", sc)
		case !slices.Contains(out, sc):
			out = append(out, sc)
		}
	}
	return out, nil
}

// exchangeAudience returns the resources the token is for: resource and audience values
// are both RFC 8707 resource URIs. An access token's audience bounds them and is the
// default; an agent token has none, so a resource this server serves must be named.
func (p *Provider) exchangeAudience(subject *party, requested []string) ([]string, error) {
	if subject.token == nil {
		if len(requested) == 0 {
			return nil, oidc.ErrInvalidTarget().WithDescription("name the resource the token is for: an agent token has no audience")
		}
		return p.resources(requested)
	}
	if len(requested) == 0 {
		return subject.token.Audience, nil
	}
	var out []string
	for _, raw := range requested {
		res, err := canonicalResource(raw)
		if err != nil || !slices.Contains(subject.token.Audience, res) {
			return nil, oidc.ErrInvalidTarget().WithDescription("resource %q is not in the subject token's audience", raw)
		}
		out = union(out, []string{res})
	}
	return out, nil
}

// exchangePermissions returns the permissions to delegate: those authorization_details
// names, or else what the scopes grant on the audience. Each must lie within what the
// scopes grant on the audience, and each resource of the audience must be reached by one.
func (p *Provider) exchangePermissions(details, scopes, audience []string) ([]agent.Permission, error) {
	reach := p.permissions(scopes, audience)
	perms := reach
	if len(details) > 0 {
		var err error
		if perms, err = parsePermissionDetails(details); err != nil {
			return nil, err
		}
	}
	if len(perms) == 0 {
		return nil, oidc.ErrInvalidScope().WithDescription("nothing to delegate: scope %q grants no permission on the resources", strings.Join(scopes, " "))
	}
	for _, perm := range perms {
		if !covers(reach, perm) {
			return nil, oidc.ErrInvalidScope().WithDescription("%s %v is outside what scope %q grants on the resources", perm.Resource, perm.Actions, strings.Join(scopes, " "))
		}
	}
	for _, res := range audience {
		if !slices.ContainsFunc(perms, func(perm agent.Permission) bool { return covers(p.permissions(scopes, []string{res}), perm) }) {
			return nil, oidc.ErrInvalidTarget().WithDescription("nothing asked for is on resource %q", res)
		}
	}
	return perms, nil
}

// covers reports whether one of grants contains perm: its resource inside the grant's
// pattern and its actions a subset.
func covers(grants []agent.Permission, perm agent.Permission) bool {
	return slices.ContainsFunc(grants, func(g agent.Permission) bool {
		return agent.ContainsPattern(g.Resource, perm.Resource) && agent.ContainsActions(g.Actions, perm.Actions)
	})
}

// mayAct returns the agent id the subject says may act for it, from its token's may_act
// claim and its agent's metadata; when both name one, they must agree.
func mayAct(subject *party) (string, error) {
	fromMeta := subject.agent.Metadata[MetadataMayAct]
	if subject.claims == nil {
		return fromMeta, nil
	}
	raw, ok := subject.claims.Claims["may_act"]
	if !ok {
		return fromMeta, nil
	}
	m, _ := raw.(map[string]any)
	fromClaim, _ := m["sub"].(string)
	if fromClaim == "" || (fromMeta != "" && fromMeta != fromClaim) {
		return "", oidc.ErrInvalidRequest().WithDescription("subject_token: its may_act claim names no agent, or not the one its agent names")
	}
	return fromClaim, nil
}

// checkActor enforces who may act: an agent of the subject's tenant and owner (DESIGN §5
// lets only a tenant admin delegate to another owner's agent), not the subject itself,
// and the agent may_act names, if any.
func (x *exchange) checkActor() error {
	s := x.subject.agent
	if x.actor == nil {
		if x.subjectMayActID != "" {
			return oidc.ErrInvalidRequest().WithDescription("only %s may act for the subject (may_act): present its actor_token", x.subjectMayActID)
		}
		return nil
	}
	a := x.actor.agent
	switch {
	case a.ID == s.ID:
		return oidc.ErrInvalidRequest().WithDescription("actor_token names the subject agent itself")
	case a.TenantID != s.TenantID:
		return oidc.ErrInvalidRequest().WithDescription("actor_token: the actor agent belongs to another tenant")
	case a.OwnerID != s.OwnerID:
		return oidc.ErrInvalidRequest().WithDescription("actor_token: the actor agent belongs to another owner")
	case x.subjectMayActID != "" && x.subjectMayActID != a.ID:
		return oidc.ErrInvalidRequest().WithDescription("actor_token: may_act names %s, not %s", x.subjectMayActID, a.ID)
	}
	return nil
}

// exchangeExpiry sets when the token and its delegation end: the access token lifetime
// from now, but never after the subject token, the subject or actor agent, or the grants
// of the subject the permissions are delegated from.
func (p *Provider) exchangeExpiry(ctx context.Context, x *exchange) error {
	now := p.now()
	exp := now.Add(p.cfg.AccessTokenTTL)
	bound := func(t *time.Time) {
		if t != nil && t.Before(exp) {
			exp = *t
		}
	}
	if x.subject.token != nil {
		bound(&x.subject.token.ExpiresAt)
	}
	bound(x.subject.agent.ExpiresAt)
	if x.actor != nil {
		bound(x.actor.agent.ExpiresAt)
	}
	caps, err := p.cfg.Agents.Capabilities(p.admin(ctx), x.subject.agent.ID)
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	for _, perm := range x.perms {
		bound(latestEnd(caps.Capabilities, perm))
	}
	x.expires = exp.Truncate(time.Second) // a JWT's exp has seconds: the record must not outlive it
	if !x.expires.After(now) {
		return oidc.ErrInvalidRequest().WithDescription("subject_token: it expires too soon to exchange")
	}
	return nil
}

// latestEnd is when the last of the capabilities covering perm ends: nil when one never
// ends, or when none covers it (the delegation will say so).
func latestEnd(caps []api.Capability, perm agent.Permission) *time.Time {
	var latest *time.Time
	for _, c := range caps {
		if !agent.ContainsPattern(c.Resource, perm.Resource) || !agent.ContainsActions(c.Actions, perm.Actions) {
			continue
		}
		if c.ExpiresAt == nil {
			return nil
		}
		if latest == nil || c.ExpiresAt.After(*latest) {
			latest = c.ExpiresAt
		}
	}
	return latest
}
