package oidc

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
)

//go:embed pages.html
var pagesHTML string

var pages = template.Must(template.New("pages").Parse(pagesHTML))

// consentView is what the consent page shows.
type consentView struct {
	ID, CSRF, Action      string
	Client, ClientID      string
	RedirectHost          string
	LoopbackOnly          bool
	Scopes, Resources     []string
	Permissions           []string
	User, DevUser         string
	AskUser, FromDocument bool
}

// renderConsent shows the consent page, naming the client, where it will be sent back to,
// the scopes, the resources and the permissions they grant. Its form carries a fresh CSRF
// token whose hash is stored on the request.
func (p *Provider) renderConsent(w http.ResponseWriter, r *http.Request, ar *store.OAuthAuthRequest, c *client) {
	token := randomSecret("")
	if _, err := p.store.UpdateOAuthAuthRequest(r.Context(), ar.ID, func(x *store.OAuthAuthRequest) error {
		x.CSRFHash = agent.HashToken(token)
		return nil
	}); err != nil {
		p.renderError(w, http.StatusInternalServerError, "Something went wrong on our side.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie(ar.ID), Value: token, Path: p.prefix + "/consent", HttpOnly: true,
		Secure: strings.HasPrefix(p.issuer, "https://"), SameSite: http.SameSiteStrictMode, MaxAge: int(p.cfg.AuthRequestTTL.Seconds()),
	})
	v := consentView{
		ID: ar.ID, CSRF: token, Action: p.endpoint("/consent"), Client: c.name(), ClientID: c.id,
		RedirectHost: redirectHost(ar.RedirectURI), LoopbackOnly: loopbackOnly(c.meta.RedirectURIs),
		Scopes: ar.Scopes, Resources: ar.Resources, User: ar.Subject, DevUser: p.cfg.Login.DevUser,
		AskUser: ar.Subject == "", FromDocument: c.document,
	}
	for _, perm := range p.permissions(ar.Scopes, ar.Resources) {
		v.Permissions = append(v.Permissions, strings.Join(perm.Actions, ",")+" on "+perm.Resource)
	}
	p.renderPage(w, http.StatusOK, "consent", v, ar.RedirectURI)
}

// renderError shows an error page to the user; nothing is sent to the client.
func (p *Provider) renderError(w http.ResponseWriter, status int, message string) {
	p.renderPage(w, status, "error", message, "")
}

func (p *Provider) renderPage(w http.ResponseWriter, status int, name string, data any, redirectURI string) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		p.log.Error("rendering a login page failed", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	formAction := "'self'"
	if u, err := url.Parse(redirectURI); err == nil && u.Host != "" {
		formAction += " " + u.Scheme + "://" + u.Host // the consent form's answer redirects there
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action "+formAction+"; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func csrfCookie(id string) string { return "kavach_consent_" + id }

func clearCSRFCookie(w http.ResponseWriter, p *Provider, id string) {
	http.SetCookie(w, &http.Cookie{Name: csrfCookie(id), Path: p.prefix + "/consent", MaxAge: -1, HttpOnly: true})
}

func redirectHost(uri string) string {
	if u, err := url.Parse(uri); err == nil {
		return u.Host
	}
	return uri
}

// loopbackOnly reports whether every redirect URI is on the user's own machine, which the
// metadata document cannot vouch for: the page warns about it.
func loopbackOnly(uris []string) bool {
	return !slices.ContainsFunc(uris, func(u string) bool {
		parsed, err := url.Parse(u)
		return err != nil || !isLoopbackHost(parsed.Hostname())
	})
}

// permissions maps consented scopes on resources to agent permissions, without duplicates.
func (p *Provider) permissions(scopes, resources []string) []agent.Permission {
	var out []agent.Permission
	for _, s := range scopes {
		tpl, ok := p.cfg.ScopePermissions[s]
		if !ok {
			continue
		}
		for _, res := range resources {
			perm := agent.Permission{Resource: strings.ReplaceAll(tpl.Resource, "{server}", p.serverName(res)), Actions: slices.Clone(tpl.Actions)}
			if !slices.ContainsFunc(out, func(q agent.Permission) bool { return q.Key() == perm.Key() }) {
				out = append(out, perm)
			}
		}
	}
	return out
}

// admin is the actor consents manage agents as.
func (p *Provider) admin(ctx context.Context) context.Context {
	return api.WithActor(ctx, api.Actor{Role: api.RoleAdmin, TenantID: p.cfg.Tenant})
}

// grantConsent makes the (user, client) pair's delegated agent hold what this request was
// consented to, creating the agent on first consent (or when the earlier one can no longer
// act) and adding only newly consented scope and resource pairs to an existing one, so an
// agent narrowed by an administrator stays narrowed.
func (p *Provider) grantConsent(ctx context.Context, ar *store.OAuthAuthRequest, c *client) (string, error) {
	actx := p.admin(ctx)
	prev, err := p.store.GetOAuthConsent(ctx, ar.TenantID, ar.Subject, ar.ClientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	consent := &store.OAuthConsent{TenantID: ar.TenantID, OwnerID: ar.Subject, ClientID: ar.ClientID, UpdatedAt: p.now()}
	if prev != nil && p.agentUsable(ctx, prev.AgentID) == nil {
		consent.AgentID = prev.AgentID
		consent.Scopes, consent.Resources = union(prev.Scopes, ar.Scopes), union(prev.Resources, ar.Resources)
		if err := p.addPermissions(actx, prev, consent); err != nil {
			return "", err
		}
	} else {
		consent.Scopes, consent.Resources = ar.Scopes, ar.Resources
		created, err := p.cfg.Agents.Create(actx, api.CreateAgentRequest{
			OwnerID: ar.Subject, Name: agentName(c), Type: agent.TypeDelegated,
			Permissions: p.permissions(ar.Scopes, ar.Resources),
			Metadata:    map[string]string{"oauthClientId": c.id, "oauthClientName": c.meta.ClientName},
		})
		if err != nil {
			return "", err
		}
		consent.AgentID = created.ID
	}
	return consent.AgentID, p.store.PutOAuthConsent(ctx, consent)
}

// addPermissions grants the agent what the scope and resource pairs new in next (compared
// with prev) map to, unless it holds them already.
func (p *Provider) addPermissions(actx context.Context, prev, next *store.OAuthConsent) error {
	had := p.permissions(prev.Scopes, prev.Resources)
	var added []agent.Permission
	for _, perm := range p.permissions(next.Scopes, next.Resources) {
		if !slices.ContainsFunc(had, func(q agent.Permission) bool { return q.Key() == perm.Key() }) {
			added = append(added, perm)
		}
	}
	if len(added) == 0 {
		return nil
	}
	a, err := p.cfg.Agents.Get(actx, next.AgentID)
	if err != nil {
		return err
	}
	perms := slices.Clone(a.Permissions)
	for _, perm := range added {
		if !slices.ContainsFunc(perms, func(q agent.Permission) bool { return q.Key() == perm.Key() }) {
			perms = append(perms, perm)
		}
	}
	_, err = p.cfg.Agents.Update(actx, a.ID, api.UpdateAgentRequest{Permissions: &perms})
	return err
}

// agentUsable returns nil if the agent exists and may act, else an invalid_grant error.
func (p *Provider) agentUsable(ctx context.Context, id string) error {
	if id == "" {
		return oidc.ErrInvalidGrant().WithDescription("the grant has no agent")
	}
	a, err := p.cfg.Agents.Get(p.admin(ctx), id)
	if api.IsNotFound(err) || (err == nil && a.Usable(p.now()) != nil) {
		return oidc.ErrInvalidGrant().WithDescription("the agent of this grant was revoked or has expired")
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

// agentName names a consent's agent after its client.
func agentName(c *client) string {
	name := c.name()
	if len(name) > 150 {
		name = name[:150]
	}
	if strings.TrimSpace(name) == "" || agent.ValidateName("name", name+" (OAuth)") != nil {
		name = "client"
	}
	return name + " (OAuth)"
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// authResponseURL builds the redirect of an authorization response in the request's mode.
func authResponseURL(ar *store.OAuthAuthRequest, payload any, enc httphelper.Encoder) (string, error) {
	return op.AuthResponseURL(ar.RedirectURI, oidc.ResponseType(ar.ResponseType), oidc.ResponseMode(ar.ResponseMode), payload, enc)
}

func authResponseFormPost(w http.ResponseWriter, redirectURI string, payload any, enc httphelper.Encoder) error {
	return op.AuthResponseFormPost(w, redirectURI, payload, enc)
}
