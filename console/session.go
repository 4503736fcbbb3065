package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// Cookie names. The session cookie is signed; the login cookie carries the login form's
// CSRF token, or the upstream login's state and PKCE verifier, for a few minutes.
const (
	sessionCookie = "kavach_console"
	loginCookie   = "kavach_console_login"
	loginTTL      = 10 * time.Minute
)

// session is who is logged in. Nonce makes each login's CSRF token its own.
type session struct {
	User  string   `json:"u"`
	Role  api.Role `json:"-"`
	Exp   int64    `json:"e"`
	Nonce string   `json:"n"`
	// flash is what the action before this page had to say (see redirectWith).
	flash *flash
}

func (c *Console) sign(v []byte) string {
	m := hmac.New(sha256.New, c.key)
	m.Write(v)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// seal encodes v and signs it under a purpose, so one cookie cannot stand in for another.
func (c *Console) seal(purpose string, v any) string {
	b, _ := json.Marshal(v)
	body := base64.RawURLEncoding.EncodeToString(b)
	return body + "." + c.sign([]byte(purpose+"\x00"+body))
}

func (c *Console) open(purpose, sealed string, v any) bool {
	body, sig, ok := strings.Cut(sealed, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(c.sign([]byte(purpose+"\x00"+body)))) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	return err == nil && json.Unmarshal(b, v) == nil
}

func (c *Console) csrf(s *session) string { return c.sign([]byte("csrf\x00" + s.Nonce)) }

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: Prefix, MaxAge: int(ttl.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.secure || r.TLS != nil,
	})
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	c.setCookie(w, r, name, "", -time.Second)
}

// current returns the logged-in session, if a valid one came with the request.
func (c *Console) current(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	var s session
	if !c.open("session", ck.Value, &s) || c.cfg.Now().Unix() >= s.Exp || s.User == "" {
		return nil, false
	}
	// The role follows the configuration, not the login: a name taken off the admin list
	// acts as a user from its next request.
	s.Role = c.role(s.User)
	return &s, true
}

// authed runs h for a logged-in person; a POST must also carry the session's CSRF token.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.current(r)
		if !ok {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, ".json") {
				// The page asked for is kept, so the login ends there.
				http.Redirect(w, r, Prefix+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, nil, api.Errorf(api.CodeUnauthenticated, "not logged in"))
			return
		}
		if r.Method == http.MethodPost {
			token := r.PostFormValue("csrf")
			if subtle.ConstantTimeCompare([]byte(token), []byte(c.csrf(s))) != 1 {
				c.fail(w, s, api.Errorf(api.CodeForbidden, "this form did not come from this console"))
				return
			}
		}
		if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, ".json") {
			s.flash = c.takeFlash(w, r)
		}
		h(w, r, s)
	}
}

// startSession logs user in and sends them to the page they asked for (next), or to the
// approvals.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, user, method, next string) {
	role := c.role(user)
	s := session{User: user, Role: role, Exp: c.cfg.Now().Add(c.cfg.SessionTTL).Unix(), Nonce: rand.Text()}
	c.clearCookie(w, r, loginCookie)
	c.setCookie(w, r, sessionCookie, c.seal("session", s), c.cfg.SessionTTL)
	c.log.Info("console login", "user", user, "role", role, "method", method)
	http.Redirect(w, r, localPath(next), http.StatusSeeOther)
}

func (c *Console) role(user string) api.Role {
	if slices.Contains(c.cfg.Admins, user) {
		return api.RoleAdmin
	}
	return api.RoleUser
}

type loginView struct {
	DevLogin, Upstream bool
	// Next is the console page to land on after the login.
	Next string
}

// loginPage offers the configured login methods. The dev form's CSRF token is also set
// in a cookie (double submit), so another site cannot log a browser in as someone else.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if _, ok := c.current(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	token := rand.Text()
	c.setCookie(w, r, loginCookie, c.seal("login", token), loginTTL)
	v := view{Title: "Log in", CSRF: token, Data: loginView{DevLogin: c.cfg.DevLogin, Upstream: c.cfg.Upstream != nil, Next: next}}
	if !c.cfg.DevLogin && c.cfg.Upstream == nil {
		v.Error = "No login method is configured on this server."
	}
	c.render(w, http.StatusOK, "login", v)
}

func (c *Console) devLogin(w http.ResponseWriter, r *http.Request) {
	var want string
	ck, err := r.Cookie(loginCookie)
	if !c.cfg.DevLogin || err != nil || !c.open("login", ck.Value, &want) ||
		subtle.ConstantTimeCompare([]byte(want), []byte(r.PostFormValue("csrf"))) != 1 {
		c.fail(w, nil, api.Errorf(api.CodeForbidden, "login refused"))
		return
	}
	user := trimmed(r, "username")
	if err := agent.ValidateIdentifier("username", user); err != nil {
		c.render(w, http.StatusBadRequest, "login", view{Title: "Log in", CSRF: want, Error: "Enter a user name, without spaces.",
			Data: loginView{DevLogin: true, Upstream: c.cfg.Upstream != nil, Next: localPath(r.PostFormValue("next"))}})
		return
	}
	c.startSession(w, r, user, "dev", r.PostFormValue("next"))
}

type upstreamState struct {
	State, Verifier, Next string
}

func (c *Console) upstreamLogin(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Upstream == nil {
		http.NotFound(w, r)
		return
	}
	st := upstreamState{State: rand.Text(), Verifier: rand.Text() + rand.Text(), Next: localPath(r.URL.Query().Get("next"))}
	c.setCookie(w, r, loginCookie, c.seal("upstream", st), loginTTL)
	http.Redirect(w, r, c.cfg.Upstream.AuthURL(st.State, st.Verifier), http.StatusFound)
}

func (c *Console) upstreamCallback(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Upstream == nil {
		http.NotFound(w, r)
		return
	}
	var st upstreamState
	ck, err := r.Cookie(loginCookie)
	q := r.URL.Query()
	if err != nil || !c.open("upstream", ck.Value, &st) || st.State == "" ||
		subtle.ConstantTimeCompare([]byte(st.State), []byte(q.Get("state"))) != 1 || q.Get("error") != "" {
		c.fail(w, nil, api.Errorf(api.CodeForbidden, "login refused"))
		return
	}
	user, err := c.cfg.Upstream.Exchange(r.Context(), q.Get("code"), st.Verifier)
	if err != nil {
		c.log.Warn("console: upstream login failed", "error", err)
		c.fail(w, nil, api.Errorf(api.CodeForbidden, "login refused"))
		return
	}
	c.startSession(w, r, user, "upstream", st.Next)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	c.clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}
