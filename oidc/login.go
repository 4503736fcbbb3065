package oidc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// loginRoutes serves the human side of an authorization request: login, consent and the
// upstream provider's callback.
func (p *Provider) loginRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p.prefix+"/login", p.loginPage)
	mux.HandleFunc("GET "+p.prefix+"/login/callback", p.upstreamCallback)
	mux.HandleFunc("POST "+p.prefix+"/consent", p.consentSubmit)
	return mux
}

// loginPage is where Authorize sends the user agent. It logs the user in (proxy header,
// upstream provider, or the dev login) and then asks for consent, or completes at once when
// consent was given before or auto-approve is on.
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, c, ok := p.pending(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	if user := p.proxyUser(r); user != "" {
		if ar, ok = p.setSubject(w, r, ar, user, "proxy"); !ok {
			return
		}
	}
	switch {
	case ar.Subject == "" && p.upstream != nil:
		p.upstreamLogin(w, r, ar)
		return
	case ar.Subject == "" && p.cfg.Login.DevAutoApprove:
		if ar, ok = p.setSubject(w, r, ar, p.cfg.Login.DevUser, "dev"); !ok {
			return
		}
	case ar.Subject == "" && !p.cfg.Login.DevLogin:
		p.redirectError(w, r, ar, oidc.ErrAccessDenied().WithDescription("no login method is configured on this server"))
		return
	}
	if ar.Subject != "" && (p.cfg.Login.DevAutoApprove || p.consented(ctx, ar)) {
		p.complete(w, r, ar, c)
		return
	}
	p.renderConsent(w, r, ar, c)
}

// consentSubmit takes the consent form. It is bound to the stored request by a CSRF token
// that only the page rendered for it carries, both in the form and in a cookie.
func (p *Provider) consentSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.renderError(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	ar, c, ok := p.pending(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	token := r.PostForm.Get("csrf")
	cookie, err := r.Cookie(csrfCookie(ar.ID))
	if err != nil || token == "" || cookie.Value != token || ar.CSRFHash == "" || !agent.VerifyToken(token, ar.CSRFHash) {
		p.renderError(w, http.StatusForbidden, "This form has expired or did not come from this server. Start again from the application.")
		return
	}
	clearCSRFCookie(w, p, ar.ID)
	if ar.Subject == "" {
		user := strings.TrimSpace(r.PostForm.Get("username"))
		if !p.cfg.Login.DevLogin || agent.ValidateIdentifier("username", user) != nil {
			p.renderError(w, http.StatusForbidden, "You are not logged in.")
			return
		}
		if ar, ok = p.setSubject(w, r, ar, user, "dev"); !ok {
			return
		}
	} else if p.cfg.Login.ProxyHeader != "" && slices.Contains(ar.AMR, "proxy") && p.proxyUser(r) != ar.Subject {
		p.renderError(w, http.StatusForbidden, "You are logged in as someone else than when this page was shown.")
		return
	}
	if r.PostForm.Get("action") != "approve" {
		p.redirectError(w, r, ar, oidc.ErrAccessDenied().WithDescription("the user denied the request"))
		return
	}
	p.complete(w, r, ar, c)
}

// pending loads an authorization request still waiting for login or consent, and its
// client. On failure it has answered already.
func (p *Provider) pending(w http.ResponseWriter, r *http.Request, id string) (*store.OAuthAuthRequest, *client, bool) {
	ar, err := p.store.GetOAuthAuthRequest(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && (ar.Done || ar.CodeHash != "" || !p.now().Before(ar.ExpiresAt))):
		p.renderError(w, http.StatusBadRequest, "This authorization request is unknown, finished or expired. Start again from the application.")
		return nil, nil, false
	case err != nil:
		p.log.ErrorContext(r.Context(), "loading an authorization request failed", "error", err)
		p.renderError(w, http.StatusInternalServerError, "Something went wrong on our side.")
		return nil, nil, false
	}
	c, err := p.client(r.Context(), ar.ClientID)
	if err != nil {
		p.renderError(w, http.StatusBadRequest, "The application is no longer known to this server.")
		return nil, nil, false
	}
	return ar, c, true
}

// setSubject records who logged in.
func (p *Provider) setSubject(w http.ResponseWriter, r *http.Request, ar *store.OAuthAuthRequest, user, method string) (*store.OAuthAuthRequest, bool) {
	now := p.now()
	updated, err := p.store.UpdateOAuthAuthRequest(r.Context(), ar.ID, func(x *store.OAuthAuthRequest) error {
		if x.Subject != "" && x.Subject != user {
			return errors.New("another user already logged in for this request")
		}
		x.Subject, x.AuthTime, x.AMR = user, now, []string{method}
		return nil
	})
	if err != nil {
		p.renderError(w, http.StatusConflict, "This authorization request belongs to another login. Start again from the application.")
		return nil, false
	}
	return updated, true
}

// proxyUser returns the user a trusted reverse proxy vouches for, or "": the header counts
// only on a connection from a configured proxy address.
func (p *Provider) proxyUser(r *http.Request) string {
	header := p.cfg.Login.ProxyHeader
	if header == "" {
		return ""
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	ip = ip.Unmap()
	if !slices.ContainsFunc(p.proxies, func(pfx netip.Prefix) bool { return pfx.Contains(ip) }) {
		return ""
	}
	user := strings.TrimSpace(r.Header.Get(header))
	if agent.ValidateIdentifier("user", user) != nil {
		return ""
	}
	return user
}

// consented reports whether the user already consented to everything this request asks
// for, through an agent that may still act.
func (p *Provider) consented(ctx context.Context, ar *store.OAuthAuthRequest) bool {
	c, err := p.store.GetOAuthConsent(ctx, ar.TenantID, ar.Subject, ar.ClientID)
	if err != nil {
		return false
	}
	for _, s := range ar.Scopes {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	for _, res := range ar.Resources {
		if !slices.Contains(c.Resources, res) {
			return false
		}
	}
	return p.agentUsable(ctx, c.AgentID) == nil
}

// complete gives the consented request its agent and a code, and sends the user agent back
// to the client.
func (p *Provider) complete(w http.ResponseWriter, r *http.Request, ar *store.OAuthAuthRequest, c *client) {
	ctx := r.Context()
	agentID, err := p.grantConsent(ctx, ar, c)
	if err != nil {
		p.log.ErrorContext(ctx, "recording consent failed", "client", ar.ClientID, "user", ar.Subject, "error", err)
		p.redirectError(w, r, ar, oidc.ErrServerError().WithDescription("the consent could not be recorded"))
		return
	}
	code := randomSecret("kvc_")
	now := p.now()
	ar, err = p.store.UpdateOAuthAuthRequest(ctx, ar.ID, func(x *store.OAuthAuthRequest) error {
		if x.Done || x.CodeHash != "" {
			return errors.New("the request is already complete")
		}
		x.Done, x.AgentID, x.CSRFHash = true, agentID, ""
		x.CodeHash, x.ExpiresAt = agent.HashToken(code), now.Add(p.cfg.CodeTTL)
		return nil
	})
	if err != nil {
		p.renderError(w, http.StatusConflict, "This authorization request was already completed.")
		return
	}
	p.log.InfoContext(ctx, "authorization granted", "client", ar.ClientID, "user", ar.Subject, "agent", agentID,
		"scopes", ar.Scopes, "resources", ar.Resources)
	p.respond(w, r, ar, &codeResponse{Code: code, State: ar.State})
}

// codeResponse is a successful authorization response; iss is added by the encoder.
type codeResponse struct {
	Code  string `schema:"code"`
	State string `schema:"state,omitempty"`
}

// redirectError answers the client with an authorization error and forgets the request.
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, ar *store.OAuthAuthRequest, e *oidc.Error) {
	e.State = ar.State
	if err := p.store.DeleteOAuthAuthRequest(r.Context(), ar.ID); err != nil {
		p.log.WarnContext(r.Context(), "deleting a refused authorization request failed", "error", err)
	}
	p.respond(w, r, ar, e)
}

// respond sends an authorization response (code or error, with state and iss) to the
// request's registered redirect URI in its response mode.
func (p *Provider) respond(w http.ResponseWriter, r *http.Request, ar *store.OAuthAuthRequest, payload any) {
	w.Header().Set("Cache-Control", "no-store")
	if oidc.ResponseMode(ar.ResponseMode) == oidc.ResponseModeFormPost {
		if err := authResponseFormPost(w, ar.RedirectURI, payload, p.enc); err != nil {
			p.renderError(w, http.StatusInternalServerError, "Something went wrong on our side.")
		}
		return
	}
	target, err := authResponseURL(ar, payload, p.enc)
	if err != nil {
		p.renderError(w, http.StatusInternalServerError, "Something went wrong on our side.")
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}
