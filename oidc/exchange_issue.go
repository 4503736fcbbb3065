package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/store"
)

// delegateExchange gives the actor (created now when the request named none) the
// permissions through a delegation from the subject: an identical one still in force, or
// a new one made by the delegation service, which applies every rule of DESIGN §5.
func (p *Provider) delegateExchange(ctx context.Context, x *exchange) error {
	s := x.subject.agent
	// The exchange acts for the subject's owner, who may delegate between its own agents.
	owner := api.WithActor(ctx, api.Actor{Role: api.RoleUser, TenantID: s.TenantID, OwnerID: s.OwnerID})
	if x.actor == nil {
		if err := p.boundExchangeAgents(owner, s.ID); err != nil {
			return err
		}
		created, err := p.cfg.Agents.Create(owner, api.CreateAgentRequest{
			OwnerID: s.OwnerID, Name: "token exchange from " + s.ID, Type: agent.TypeDelegated, ExpiresAt: &x.expires,
			Metadata: map[string]string{"oauthExchangedFrom": s.ID, "oauthClientId": x.clientID},
		})
		if err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		x.actor, x.ephemeralActor = &party{agent: &created.Agent}, true
	}
	err := p.findOrDelegate(ctx, owner, x)
	if err != nil && x.ephemeralActor {
		if _, rerr := p.cfg.Agents.Revoke(owner, x.actor.agent.ID); rerr != nil {
			p.log.WarnContext(ctx, "revoking the agent of a refused token exchange failed", "agent", x.actor.agent.ID, "error", rerr)
		}
	}
	return err
}

// boundExchangeAgents refuses to make another agent for subjectID once
// MaxExchangeAgents of those that exchanges made for it are live (active, not expired, and
// still delegated to).
func (p *Provider) boundExchangeAgents(owner context.Context, subjectID string) error {
	list, err := p.cfg.Delegations.List(owner, api.ListDelegationsRequest{AgentID: subjectID, Direction: store.DirectionFrom})
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	now, live := p.cfg.Now(), 0
	for _, d := range list.Delegations {
		if d.Status != agent.DelegationActive || (d.ExpiresAt != nil && !d.ExpiresAt.After(now)) {
			continue
		}
		a, err := p.cfg.Agents.Get(owner, d.ToAgentID)
		if err != nil || a.Metadata["oauthExchangedFrom"] != subjectID || a.Status != agent.StatusActive ||
			(a.ExpiresAt != nil && !a.ExpiresAt.After(now)) {
			continue
		}
		if live++; live >= p.cfg.MaxExchangeAgents {
			return oidc.ErrInvalidRequest().WithDescription(
				"the subject agent already has %d live agents made by token exchange: name the actor with actor_token", live)
		}
	}
	return nil
}

// findOrDelegate reuses a live delegation from the subject to the actor with the same
// permissions and the default depth that lasts as long as the token, or delegates anew.
func (p *Provider) findOrDelegate(ctx, owner context.Context, x *exchange) error {
	if !x.ephemeralActor {
		list, err := p.cfg.Delegations.List(owner, api.ListDelegationsRequest{AgentID: x.subject.agent.ID, Direction: store.DirectionFrom})
		if err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		for _, d := range list.Delegations {
			if d.ToAgentID == x.actor.agent.ID && d.Status == agent.DelegationActive && d.MaxDepth == agent.DefaultMaxDepth &&
				(d.ExpiresAt == nil || !d.ExpiresAt.Before(x.expires)) && samePermissions(d.Permissions, x.perms) {
				if via, err := p.delegationVia(ctx, x.actor.agent.ID, d.ID); err == nil && via != nil {
					x.delegation, x.reused, x.via = &d, true, via
					return nil
				}
			}
		}
	}
	d, err := p.cfg.Delegations.Delegate(owner, api.DelegateRequest{
		FromAgentID: x.subject.agent.ID, ToAgentID: x.actor.agent.ID, Permissions: x.perms, ExpiresAt: &x.expires,
	})
	if err != nil {
		return delegationRefused(err)
	}
	x.delegation = d
	if x.via, err = p.delegationVia(ctx, x.actor.agent.ID, d.ID); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if x.via == nil {
		return oidc.ErrInvalidRequest().WithDescription("the delegation %s does not take effect", d.ID)
	}
	return nil
}

// delegationRefused turns the delegation service's refusal into the token endpoint's:
// permissions the subject does not hold are invalid_scope; every other rule (depth,
// expiry, cycles, inactive agents) makes the request unacceptable, invalid_request.
func delegationRefused(err error) error {
	var ae *api.Error
	switch {
	case !errors.As(err, &ae) || ae.Code == api.CodeInternal:
		return oidc.ErrServerError().WithParent(err)
	case ae.Reason == api.ReasonNotCovered:
		return oidc.ErrInvalidScope().WithDescription("the subject does not hold it: %s", ae.Message)
	}
	return oidc.ErrInvalidRequest().WithDescription("the delegation is refused: %s", ae.Message)
}

// delegationVia returns the chain of delegations, root first, through which agentID holds
// a grant of delegation id: nil when none is in force.
func (p *Provider) delegationVia(ctx context.Context, agentID, id string) ([]string, error) {
	caps, err := p.cfg.Agents.Capabilities(p.admin(ctx), agentID)
	if api.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, c := range caps.Capabilities {
		if len(c.Via) > 0 && c.Via[len(c.Via)-1] == id {
			return c.Via, nil
		}
	}
	return nil, nil
}

// samePermissions reports whether two sets of permissions grant the same, ids aside.
func samePermissions(a, b []agent.Permission) bool {
	keys := func(ps []agent.Permission) []string {
		out := make([]string, len(ps))
		for i, perm := range ps {
			c, _ := json.Marshal(perm.Constraints)
			out[i] = perm.Key() + "\x00" + string(c)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(keys(a), keys(b))
}

// permissionDetail is one authorization_details entry of type kavach_permission.
type permissionDetail struct {
	Type        string             `json:"type"`
	Resource    string             `json:"resource"`
	Actions     []string           `json:"actions"`
	Constraints *agent.Constraints `json:"constraints,omitempty"`
}

// parsePermissionDetails reads the authorization_details parameter: a JSON array of
// kavach_permission objects.
func parsePermissionDetails(raw []string) ([]agent.Permission, error) {
	invalid := func(format string, args ...any) error {
		return (&oidc.Error{ErrorType: "invalid_authorization_details"}).WithDescription(format, args...)
	}
	if len(raw) != 1 {
		return nil, invalid("authorization_details must be given once")
	}
	dec := json.NewDecoder(strings.NewReader(raw[0]))
	dec.DisallowUnknownFields()
	var details []permissionDetail
	if err := dec.Decode(&details); err != nil || dec.More() {
		return nil, invalid("authorization_details must be a JSON array of {type, resource, actions, constraints?} objects")
	}
	perms := make([]agent.Permission, len(details))
	for i, d := range details {
		if d.Type != PermissionDetailsType {
			return nil, invalid("authorization_details[%d]: type %q is not supported (%s)", i, d.Type, PermissionDetailsType)
		}
		perms[i] = agent.Permission{Resource: d.Resource, Actions: d.Actions, Constraints: d.Constraints}
	}
	if err := agent.ValidatePermissions("authorization_details", perms); err != nil {
		return nil, invalid("%s", err.Error())
	}
	return perms, nil
}

// issueExchanged records the token with its audit event, in one transaction, and signs it:
// sub and agent_id name the actor agent, act nests the chain of agents it acts for, most
// recent first, and may_act carries the actor agent's own restriction on who acts next.
// With jkt, the token is bound to that DPoP key.
func (s *server) issueExchanged(ctx context.Context, x *exchange, c op.Client, jkt string) (*op.Response, error) {
	p := s.p
	now, a := p.now(), x.actor.agent
	g := &grant{
		ID: x.delegation.ID, TenantID: a.TenantID, ClientID: x.clientID, Subject: a.ID, AgentID: a.ID,
		Scopes: x.scopes, Audience: x.audience, AuthTime: now, JKT: jkt,
	}
	access := g.token(agent.NewID("at_"), store.OAuthAccessToken, now, x.expires)
	if err := p.store.CreateOAuthToken(store.WithAudit(ctx, x.event(access, now)), access, ""); err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	claims := g.privateClaims()
	if id := a.Metadata[MetadataMayAct]; id != "" {
		claims["may_act"] = map[string]any{"sub": id}
	}
	req := &exchangedRequest{accessRequest{g}, x.act()}
	jwt, err := op.CreateJWT(op.ContextWithIssuer(ctx, p.issuer), p.issuer, req, x.expires, access.ID, c, claimsStorage{p.storage, claims})
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	out := op.NewResponse(&oidc.TokenExchangeResponse{
		AccessToken: jwt, IssuedTokenType: oidc.AccessTokenType, TokenType: g.tokenType(),
		ExpiresIn: uint64(x.expires.Sub(now) / time.Second), Scopes: x.scopes,
	})
	out.Header.Set("Cache-Control", "no-store")
	out.Header.Set("Pragma", "no-cache")
	return out, nil
}

// act is the issued token's act claim: the subject agent, acting for whoever its own
// token's act names.
func (x *exchange) act() *oidc.ActorClaims {
	var above *oidc.ActorClaims
	if x.subject.claims != nil {
		above = copyActor(x.subject.claims.Actor, agent.MaxDelegationDepth)
	}
	return &oidc.ActorClaims{Subject: x.subject.agent.ID, Actor: above}
}

// copyActor copies an act chain's subjects, at most depth levels deep.
func copyActor(a *oidc.ActorClaims, depth int) *oidc.ActorClaims {
	if a == nil || depth == 0 {
		return nil
	}
	return &oidc.ActorClaims{Subject: a.Subject, Actor: copyActor(a.Actor, depth-1)}
}

// chain lists the agents of the exchange, root first: those the subject acts for, the
// subject, and the actor.
func (x *exchange) chain() []string {
	var out []string
	for a := x.act(); a != nil; a = a.Actor {
		out = append(out, a.Subject)
	}
	slices.Reverse(out)
	return append(out, x.actor.agent.ID)
}

// event is the management event recording the exchange: the client, the agents and
// delegations of the chain, and what the token holds.
func (x *exchange) event(access *store.OAuthToken, now time.Time) *store.AuditEvent {
	d, a := x.delegation, x.actor.agent
	args := map[string]any{
		"clientId": x.clientID, "subjectAgentId": x.subject.agent.ID, "subjectTokenType": string(x.subject.tokenType),
		"actorAgentId": a.ID, "delegationId": d.ID, "delegation": "created", "chain": x.chain(),
		"scope": strings.Join(x.scopes, " "), "audience": x.audience, "expiresAt": x.expires.UTC().Format(time.RFC3339),
	}
	if x.reused {
		args["delegation"] = "reused"
	}
	if x.ephemeralActor {
		args["actorCreated"] = true
	} else {
		args["actorTokenType"] = string(x.actor.tokenType)
	}
	return &store.AuditEvent{
		ID: audit.NewID(), Time: now, TenantID: a.TenantID, Kind: audit.KindManagement, AgentID: a.ID, OwnerID: a.OwnerID,
		Actor: "oauth-client:" + x.clientID, Action: ActionTokenExchange, Resource: access.ID, Arguments: args,
		Result: audit.ResultOK, Via: x.via,
	}
}

// exchangedRequest is an exchanged token as op's JWT builder sees it: a grant with an act
// claim.
type exchangedRequest struct {
	accessRequest
	actor *oidc.ActorClaims
}

func (r *exchangedRequest) GetActor() *oidc.ActorClaims { return r.actor }

// claimsStorage is the storage with the private claims of one token fixed.
type claimsStorage struct {
	*storage
	claims map[string]any
}

func (s claimsStorage) GetPrivateClaimsFromRequest(context.Context, op.TokenRequest, []string) (map[string]any, error) {
	return s.claims, nil
}

// tokenAgent returns the agent of a live token if it may still act and, for an exchanged
// token, the delegation it was issued through is still in force: revoking the agent, that
// delegation or any link above it, or their expiry, ends the token. Otherwise it returns
// nil.
func (p *Provider) tokenAgent(ctx context.Context, t *store.OAuthToken) (*agent.Agent, error) {
	if t.AgentID == "" {
		return nil, nil
	}
	a, err := p.cfg.Agents.Get(p.admin(ctx), t.AgentID)
	switch {
	case api.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	case a.Usable(p.now()) != nil:
		return nil, nil
	}
	if !strings.HasPrefix(t.GrantID, agent.PrefixDelegation) {
		return a, nil
	}
	via, err := p.delegationVia(ctx, a.ID, t.GrantID)
	if err != nil || via == nil {
		return nil, err
	}
	return a, nil
}

// inForce reports whether a live token still stands for an agent that may act (see
// tokenAgent); a token without an agent does. Errors count as not in force.
func (p *Provider) inForce(ctx context.Context, t *store.OAuthToken) bool {
	if t.AgentID == "" {
		return true
	}
	a, err := p.tokenAgent(ctx, t)
	if err != nil {
		p.log.ErrorContext(ctx, "checking whether a token is in force failed", "token", t.ID, "error", err)
	}
	return a != nil
}
