package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/console"
	"github.com/kavachos/kavach-go/internal/testserver"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

var regexpToken = regexp.MustCompile(`id="new-token" readonly value="([^"]+)"`)

// user is a console session driven over plain HTTP.
type user struct {
	t    *testing.T
	s    *testserver.Server
	c    *http.Client
	csrf string
}

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// loginHTTP logs name in with the dev login form.
func loginHTTP(t *testing.T, s *testserver.Server, name string) *user {
	t.Helper()
	u := &user{t: t, s: s, c: newClient()}
	_, body := u.do(http.MethodGet, "/console/login", nil)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("login page has no CSRF token:\n%s", body)
	}
	resp, _ := u.do(http.MethodPost, "/console/login", url.Values{"csrf": {m[1]}, "username": {name}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "kavach_console" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure || session.Path != "/console" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over http, Path=/console", session)
	}
	_, body = u.do(http.MethodGet, "/console/approvals", nil)
	if m = csrfField.FindStringSubmatch(body); m == nil {
		t.Fatalf("approvals page has no CSRF token:\n%s", body)
	}
	u.csrf = m[1]
	return u
}

func (u *user) do(method, path string, form url.Values) (*http.Response, string) {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u.s.URL+path, body)
	if err != nil {
		u.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := u.c.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func approval(t *testing.T, s *testserver.Server, id string) *agent.ApprovalRequest {
	t.Helper()
	a, err := s.Kavach.Approvals().Get(kavach.WithActor(context.Background(), api.Root), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestPostsNeedTheSessionsCSRFToken: a form post without the token, with another
// session's token, or by another user is refused and changes nothing.
func TestPostsNeedTheSessionsCSRFToken(t *testing.T) {
	s := start(t)
	bot := gatedAgent(t, s, "alice", "bot")
	d := call(t, s, bot.Token, map[string]any{"branch": "main"})
	alice, bob := loginHTTP(t, s, "alice"), loginHTTP(t, s, "bob")
	path := "/console/approvals/" + d.ApprovalID + "/approve"
	for _, tc := range []struct {
		name   string
		u      *user
		form   url.Values
		status int
	}{
		{"no token", alice, url.Values{"uses": {"1"}}, http.StatusForbidden},
		{"another session's token", alice, url.Values{"csrf": {bob.csrf}}, http.StatusForbidden},
		{"another user", bob, url.Values{"csrf": {bob.csrf}}, http.StatusNotFound},
	} {
		if resp, _ := tc.u.do(http.MethodPost, path, tc.form); resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
	if a := approval(t, s, d.ApprovalID); a.Status != agent.ApprovalPending {
		t.Fatalf("after refused posts the request is %s", a.Status)
	}
	resp, _ := alice.do(http.MethodPost, path, url.Values{"csrf": {alice.csrf}, "uses": {"3"}, "ttl": {"5m"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: status %d", resp.StatusCode)
	}
	if a := approval(t, s, d.ApprovalID); a.Status != agent.ApprovalApproved || a.UsesLeft != 3 || a.DecidedBy != "user:alice" {
		t.Fatalf("approved request: %+v", a)
	}
}

// TestLoginAndLogout: pages need a session, the dev login needs its form's token, and
// logging out ends the session.
func TestLoginAndLogout(t *testing.T) {
	s := start(t)
	anon := &user{t: t, s: s, c: newClient()}
	if resp, _ := anon.do(http.MethodGet, "/console/approvals", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login?next=%2Fconsole%2Fapprovals" {
		t.Errorf("anonymous page: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := anon.do(http.MethodGet, "/console/approvals.json", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous feed: %d", resp.StatusCode)
	}
	if resp, _ := anon.do(http.MethodPost, "/console/login", url.Values{"username": {"mallory"}, "csrf": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without the form's cookie: %d", resp.StatusCode)
	}
	alice := loginHTTP(t, s, "alice")
	if resp, _ := alice.do(http.MethodPost, "/console/logout", url.Values{"csrf": {alice.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := alice.do(http.MethodGet, "/console/approvals", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %d", resp.StatusCode)
	}
}

// TestAuditPageAndExport: a user's audit page and exports hold only their agents' events;
// the admin also sees the chain verified.
func TestAuditPageAndExport(t *testing.T) {
	s := start(t)
	aliceBot, bobBot := gatedAgent(t, s, "alice", "alice-bot"), gatedAgent(t, s, "bob", "bob-bot")
	call(t, s, aliceBot.Token, map[string]any{"branch": "main"})
	call(t, s, bobBot.Token, map[string]any{"branch": "main"})
	alice, root := loginHTTP(t, s, "alice"), loginHTTP(t, s, admin)

	_, page := alice.do(http.MethodGet, "/console/audit?result=approval_required", nil)
	if !strings.Contains(page, aliceBot.ID) || strings.Contains(page, bobBot.ID) || strings.Contains(page, "Audit chain") ||
		!strings.Contains(page, "<svg") {
		t.Errorf("alice's audit page:\n%s", page)
	}
	resp, csv := alice.do(http.MethodGet, "/console/audit/export?format=csv&result=approval_required", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(csv, aliceBot.ID) || strings.Contains(csv, bobBot.ID) {
		t.Errorf("alice's export: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), csv)
	}
	_, page = root.do(http.MethodGet, "/console/audit", nil)
	if !strings.Contains(page, "Audit chain verified") || !strings.Contains(page, bobBot.ID) {
		t.Errorf("admin's audit page lacks the chain status or bob's events:\n%s", page)
	}
	if resp, _ := alice.do(http.MethodGet, "/console/audit/export?format=xml", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("export as xml: %d", resp.StatusCode)
	}
}

// TestSecureCookieBehindHTTPS: with an https console URL the session cookie is Secure.
func TestSecureCookieBehindHTTPS(t *testing.T) {
	s := start(t)
	c, err := console.New(console.Config{Kavach: s.Kavach, DevLogin: true, URL: "https://kavach.example.com/console"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/login", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].Secure || !cookies[0].HttpOnly {
		t.Fatalf("login cookie %+v: want Secure and HttpOnly", cookies)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}
