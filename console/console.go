// Package console is Kavach's web console: the page where a person decides the approvals
// their agents wait on, looks after those agents and reads the audit ledger. It is
// server-rendered HTML, and every action goes through api.Kavach as the logged-in person,
// so what a console user may see and do is exactly what the API allows them.
package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/oidc"
)

// Prefix is where the console is served.
const Prefix = "/console"

// DefaultSessionTTL is how long a login lasts.
const DefaultSessionTTL = 8 * time.Hour

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the console.
type Config struct {
	// Kavach is the API every page and action goes through.
	Kavach api.Kavach
	// Tenant is the tenant console users act in (default "default").
	Tenant string
	// Admins are the users who act as the tenant's admin; everyone else acts as a user
	// who sees only their own agents and approvals.
	Admins []string
	// DevLogin offers a form that logs in any user name, for development only.
	DevLogin bool
	// Upstream, if set, logs users in at the upstream OpenID provider; its redirect URI
	// is {URL}/login/callback.
	Upstream *oidc.UserLogin
	// URL is the console's external address ("https://kavach.example.com/console"); an
	// https URL makes the session cookie Secure. Empty means as requested.
	URL string
	// Key signs sessions; nil means a random key, so logins end with the process.
	Key        []byte
	SessionTTL time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

// Console is the console's HTTP handler.
type Console struct {
	cfg    Config
	k      api.Kavach
	key    []byte
	secure bool
	pages  map[string]*template.Template
	mux    *http.ServeMux
	log    *slog.Logger
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.Kavach == nil {
		return nil, errors.New("console: no Kavach")
	}
	if cfg.Tenant == "" {
		cfg.Tenant = agent.DefaultTenant
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Console{cfg: cfg, k: cfg.Kavach, key: cfg.Key, log: cfg.Logger}
	if len(c.key) == 0 {
		c.key = make([]byte, 32)
		_, _ = rand.Read(c.key)
	}
	if cfg.URL != "" {
		u, err := url.Parse(cfg.URL)
		if err != nil {
			return nil, errors.New("console: URL is not a URL")
		}
		c.secure = u.Scheme == "https"
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = pages
	c.routes()
	return c, nil
}

// Paths are the Echo route patterns to mount the console on.
func (c *Console) Paths() []string { return []string{Prefix, Prefix + "/*"} }

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", http.FileServerFS(static)))
	m.HandleFunc("GET "+Prefix+"/login", c.loginPage)
	m.HandleFunc("POST "+Prefix+"/login", c.devLogin)
	m.HandleFunc("GET "+Prefix+"/login/upstream", c.upstreamLogin)
	m.HandleFunc("GET "+Prefix+"/login/callback", c.upstreamCallback)
	m.HandleFunc("POST "+Prefix+"/logout", c.authed(c.logout))
	m.HandleFunc("GET "+Prefix+"/{$}", c.authed(c.home))
	m.HandleFunc("GET "+Prefix, c.authed(c.home))
	m.HandleFunc("GET "+Prefix+"/approvals", c.authed(c.approvalsPage))
	m.HandleFunc("GET "+Prefix+"/approvals.json", c.authed(c.approvalsJSON))
	m.HandleFunc("POST "+Prefix+"/approvals/{id}/approve", c.authed(c.approve))
	m.HandleFunc("POST "+Prefix+"/approvals/{id}/deny", c.authed(c.deny))
	m.HandleFunc("GET "+Prefix+"/agents", c.authed(c.agentsPage))
	m.HandleFunc("GET "+Prefix+"/agents/{id}", c.authed(c.agentPage))
	m.HandleFunc("GET "+Prefix+"/agents/{id}/rotate", c.authed(c.rotatePage))
	m.HandleFunc("POST "+Prefix+"/agents/{id}/rotate", c.authed(c.rotate))
	m.HandleFunc("GET "+Prefix+"/agents/{id}/revoke", c.authed(c.revokePage))
	m.HandleFunc("POST "+Prefix+"/agents/{id}/revoke", c.authed(c.revoke))
	m.HandleFunc("GET "+Prefix+"/delegations/{id}/revoke", c.authed(c.revokeDelegationPage))
	m.HandleFunc("POST "+Prefix+"/delegations/{id}/revoke", c.authed(c.revokeDelegation))
	m.HandleFunc("GET "+Prefix+"/audit", c.authed(c.auditPage))
	m.HandleFunc("GET "+Prefix+"/audit/events/{id}", c.authed(c.eventPage))
	m.HandleFunc("GET "+Prefix+"/audit/export", c.authed(c.auditExport))
	c.mux = m
}

func (c *Console) home(w http.ResponseWriter, r *http.Request, _ *session) {
	http.Redirect(w, r, Prefix+"/approvals", http.StatusSeeOther)
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string
	User  string
	Role  api.Role
	CSRF  string
	Flash string
	Error string
	Data  any
}

// view is the page's frame for the logged-in person, with what the last action said.
func (c *Console) view(s *session, nav, title string, data any) view {
	v := view{Title: title, Nav: nav, User: s.User, Role: s.Role, CSRF: c.csrf(s), Data: data}
	if s.flash != nil {
		v.Flash = s.flash.Message
	}
	return v
}

func (c *Console) render(w http.ResponseWriter, status int, page string, v view) {
	t, ok := c.pages[page]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console: rendering a page failed", "page", page, "error", err)
		http.Error(w, "Something went wrong on our side.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail renders an API error on a page of its own, with the status the API layer would use.
func (c *Console) fail(w http.ResponseWriter, s *session, err error) {
	status := http.StatusInternalServerError
	msg := "Something went wrong on our side."
	switch api.CodeOf(err) {
	case api.CodeNotFound:
		status, msg = http.StatusNotFound, "Not found, or not yours to see."
	case api.CodeForbidden:
		status, msg = http.StatusForbidden, "You may not do that."
	case api.CodeInvalidInput, api.CodeConflict:
		status, msg = http.StatusBadRequest, err.Error()
	case api.CodeUnauthenticated:
		status, msg = http.StatusUnauthorized, "You are not logged in."
	default:
		c.log.Error("console: request failed", "error", err)
	}
	v := view{Title: "Error", Error: msg}
	if s != nil {
		v.User, v.Role, v.CSRF = s.User, s.Role, c.csrf(s)
	}
	c.render(w, status, "error", v)
}

// ctx returns the request context carrying the session's actor.
func (c *Console) ctx(r *http.Request, s *session) context.Context {
	return api.WithActor(r.Context(), c.actor(s))
}

func (c *Console) actor(s *session) api.Actor {
	if s.Role == api.RoleAdmin {
		return api.Actor{TenantID: c.cfg.Tenant, Role: api.RoleAdmin}
	}
	return api.Actor{TenantID: c.cfg.Tenant, OwnerID: s.User, Role: api.RoleUser}
}

func trimmed(r *http.Request, name string) string { return strings.TrimSpace(r.FormValue(name)) }
