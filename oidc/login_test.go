package oidc_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/oidc"
)

var hiddenInput = regexp.MustCompile(`name="(id|csrf)" value="([^"]+)"`)

// browser is a user agent with cookies that stops at every redirect. Behind a proxy, it
// sends the proxy's headers with every request.
type browser struct{ *http.Client }

func newBrowser(t *testing.T) browser { return proxiedBrowser(t, nil) }

func proxiedBrowser(t *testing.T, header http.Header) browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return browser{&http.Client{Jar: jar, Transport: headerTransport(header),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type headerTransport http.Header

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

// consentPage runs an authorization request up to the consent page and returns the page and
// its hidden form fields.
func (b browser) consentPage(t *testing.T, e *env, params url.Values) (string, map[string]string) {
	t.Helper()
	resp, err := b.Get(e.endpoint("authorization_endpoint") + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = b.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Frame-Options") != "DENY" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("consent page: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	return string(body), formFields(string(body))
}

// formFields returns the hidden fields of a consent page's form.
func formFields(page string) map[string]string {
	fields := map[string]string{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		fields[m[1]] = m[2]
	}
	return fields
}

func (b browser) submit(t *testing.T, e *env, form url.Values) *http.Response {
	t.Helper()
	resp, err := b.PostForm(e.Issuer+"/consent", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestConsentPage: without auto-approve the dev login shows a consent page naming the
// client, scopes, resource and permissions; its form is bound to the request by a CSRF token
// that must come back both in the form and in the cookie; deny answers access_denied.
func TestConsentPage(t *testing.T) {
	t.Parallel()
	cfg := devConfig()
	cfg.Login.DevAutoApprove = false
	e := start(t, testserver.Backends[0], cfg)
	c := e.register(t, nil)

	b := newBrowser(t)
	page, f := b.consentPage(t, e, authParams(c.ID, oauthtest.NewPKCE()))
	for _, want := range []string{"test client", c.ID, resourceA, "mcp:alpha:*", "127.0.0.1:9", "Sign in as"} {
		if !strings.Contains(page, want) {
			t.Errorf("the consent page does not show %q", want)
		}
	}
	for _, tc := range []struct {
		name string
		b    browser
		form url.Values
	}{
		{"no CSRF token", b, url.Values{"id": {f["id"]}, "action": {"approve"}, "username": {"alice"}}},
		{"wrong CSRF token", b, url.Values{"id": {f["id"]}, "csrf": {"forged"}, "action": {"approve"}, "username": {"alice"}}},
		{"token without its cookie", newBrowser(t), url.Values{"id": {f["id"]}, "csrf": {f["csrf"]}, "action": {"approve"}, "username": {"alice"}}},
	} {
		if resp := tc.b.submit(t, e, tc.form); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d to %q, want 403 without redirect", tc.name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp := b.submit(t, e, url.Values{"id": {f["id"]}, "csrf": {f["csrf"]}, "action": {"approve"}, "username": {"alice"}})
	q := callback(t, resp)
	if q.Get("code") == "" || q.Get("iss") != e.Issuer || q.Get("state") != "st-1" {
		t.Fatalf("approved: %v", q)
	}
	if resp := b.submit(t, e, url.Values{"id": {f["id"]}, "csrf": {f["csrf"]}, "action": {"approve"}, "username": {"mallory"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a finished request cannot be approved again: %d", resp.StatusCode)
	}

	_, f = b.consentPage(t, e, authParams(c.ID, oauthtest.NewPKCE()))
	q = callback(t, b.submit(t, e, url.Values{"id": {f["id"]}, "csrf": {f["csrf"]}, "action": {"deny"}, "username": {"bob"}}))
	if q.Get("error") != "access_denied" || q.Get("iss") != e.Issuer || q.Get("state") != "st-1" {
		t.Fatalf("denied: %v", q)
	}
}

// behindProxy starts a server whose only login is the X-Forwarded-User header of a proxy
// at the given address, and registers a client.
func behindProxy(t *testing.T, proxy string) (*env, registration) {
	cfg := devConfig()
	cfg.Login = oidc.LoginConfig{ProxyHeader: "X-Forwarded-User", TrustedProxies: []string{proxy}}
	e := start(t, testserver.Backends[0], cfg)
	return e, e.register(t, nil)
}

// TestProxyLogin: behind a trusted proxy the header names the user, and a consent already
// given is not asked again; from any other address the header is ignored.
func TestProxyLogin(t *testing.T) {
	t.Parallel()
	e, c := behindProxy(t, "127.0.0.1")
	b := proxiedBrowser(t, http.Header{"X-Forwarded-User": {"carol"}})
	_, f := b.consentPage(t, e, authParams(c.ID, oauthtest.NewPKCE()))
	if q := callback(t, b.submit(t, e, url.Values{"id": {f["id"]}, "csrf": {f["csrf"]}, "action": {"approve"}})); q.Get("code") == "" {
		t.Fatalf("approval as carol: %v", q)
	}
	if q := callback(t, oauthtest.Authorize(t, e.endpoint("authorization_endpoint"), authParams(c.ID, oauthtest.NewPKCE()))); q.Get("error") != "access_denied" {
		t.Fatalf("without the proxy's header nobody is logged in: %v", q)
	}
	resp, err := b.Get(e.endpoint("authorization_endpoint") + "?" + authParams(c.ID, oauthtest.NewPKCE()).Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, err = b.Get(resp.Header.Get("Location")); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if q := callback(t, resp); q.Get("code") == "" {
		t.Fatalf("a consent already given is not asked again: %v", q)
	}
	list, err := e.Kavach.Agents().List(kavach.WithActor(context.Background(), api.Root), api.ListAgentsRequest{OwnerID: "carol"})
	if err != nil || len(list.Agents) != 1 || list.Agents[0].Type != agent.TypeDelegated {
		t.Fatalf("carol's agents: %+v, %v", list, err)
	}
}

// TestProxyHeaderFromUntrustedAddress: a header not set by a trusted proxy is ignored, and
// without another login method the request is refused.
func TestProxyHeaderFromUntrustedAddress(t *testing.T) {
	t.Parallel()
	e, c := behindProxy(t, "10.0.0.1")
	q := callback(t, oauthtest.Authorize(t, e.endpoint("authorization_endpoint"), authParams(c.ID, oauthtest.NewPKCE())))
	if q.Get("error") != "access_denied" || q.Get("iss") != e.Issuer {
		t.Fatalf("no trusted login: %v", q)
	}
}

// TestSigningKeyRotation: a new key is published before it signs, and the old key stays
// published while tokens it signed may still be valid.
func TestSigningKeyRotation(t *testing.T) {
	t.Parallel()
	clk := newClock()
	cfg := devConfig()
	cfg.Now, cfg.KeyRotation, cfg.KeyPublishAhead = clk.Now, 24*time.Hour, time.Hour
	e := start(t, testserver.Backends[0], cfg)
	c := e.register(t, nil)
	kid := func() string {
		pk := oauthtest.NewPKCE()
		_, tok := e.token(t, c, exchange(e.code(t, authParams(c.ID, pk)), pk))
		return header(t, tok["access_token"].(string))["kid"].(string)
	}
	jwks := func() []string {
		var set struct{ Keys []struct{ Kid string } }
		oauthtest.GetJSON(t, e.endpoint("jwks_uri"), &set)
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.Kid)
		}
		return out
	}
	first := kid()
	clk.Advance(23*time.Hour + time.Minute) // within the publish-ahead window
	if got := kid(); got != first {
		t.Fatalf("the first key still signs before the next takes over: %s, want %s", got, first)
	}
	if keys := jwks(); len(keys) != 2 {
		t.Fatalf("JWKS during the publish-ahead window: %v, want the current and the next key", keys)
	}
	clk.Advance(2 * time.Hour)
	second := kid()
	if second == first {
		t.Fatal("the next key signs once its time has come")
	}
	if keys := jwks(); len(keys) != 2 || keys[0] != first {
		t.Fatalf("JWKS right after rotation: %v, want the retired key still published", keys)
	}
	clk.Advance(3 * time.Hour)
	if keys := jwks(); len(keys) != 1 || keys[0] != second {
		t.Fatalf("JWKS once the retired key's tokens expired: %v, want only %s", keys, second)
	}
}

// TestUpstreamLogin: with an upstream OpenID provider (here another Kavach authorization
// server with its own headless login), the user logs in there; its ID token's subject is
// the user here.
func TestUpstreamLogin(t *testing.T) {
	t.Parallel()
	upCfg := devConfig()
	upCfg.Login.DevUser = "upstream-alice"
	upstream := start(t, testserver.Backends[0], upCfg)
	cfg := devConfig()
	cfg.Login = oidc.LoginConfig{}
	srv := oauthtest.StartConfigured(t, testserver.Backends[0].New(t), cfg, func(c *oidc.Config) {
		client := upstream.register(t, map[string]any{"redirect_uris": []string{c.Issuer + "/login/callback"},
			"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"authorization_code"}})
		c.Login.Upstream = oidc.UpstreamConfig{Issuer: upstream.Issuer, ClientID: client.ID, ClientSecret: client.Secret}
	})
	e := &env{Server: srv}
	oauthtest.GetJSON(t, srv.URL+"/.well-known/oauth-authorization-server/oauth", &e.meta)
	c := e.register(t, nil)

	b := newBrowser(t)
	target := e.endpoint("authorization_endpoint") + "?" + authParams(c.ID, oauthtest.NewPKCE()).Encode()
	var page string
	for range 6 { // authorize → login → upstream authorize → upstream login → callback → consent page
		resp, err := b.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			page = string(body)
			break
		}
		target = resp.Header.Get("Location")
	}
	if !strings.Contains(page, "Signed in as <strong>upstream-alice</strong>") {
		t.Fatalf("the consent page after the upstream login:\n%s", page)
	}
	f := formFields(page)
	if q := callback(t, b.submit(t, e, url.Values{"id": {f["id"]}, "csrf": {f["csrf"]}, "action": {"approve"}})); q.Get("code") == "" {
		t.Fatalf("approval: %v", q)
	}
	if list, err := e.Kavach.Agents().List(kavach.WithActor(context.Background(), api.Root), api.ListAgentsRequest{OwnerID: "upstream-alice"}); err != nil || len(list.Agents) != 1 {
		t.Fatalf("the upstream user's agent: %+v, %v", list, err)
	}
}
