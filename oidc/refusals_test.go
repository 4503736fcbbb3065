package oidc_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// TestAuthorizeRefusals: a bad authorization request is answered at the client's redirect
// URI with the OAuth error, state and iss when that URI is registered, and never redirected
// when it is not.
func TestAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	e := start(t, testserver.Backends[0], devConfig())
	c := e.register(t, nil)
	pk := oauthtest.NewPKCE()
	for _, tc := range []struct {
		name     string
		change   func(url.Values)
		redirect bool // answered at the client's redirect URI
		error    string
	}{
		{"missing challenge", func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, true, "invalid_request"},
		{"plain", func(v url.Values) { v.Set("code_challenge", pk.Verifier); v.Set("code_challenge_method", "plain") }, true, "invalid_request"},
		{"method missing", func(v url.Values) { v.Del("code_challenge_method") }, true, "invalid_request"},
		{"malformed challenge", func(v url.Values) { v.Set("code_challenge", "short") }, true, "invalid_request"},
		{"token response type", func(v url.Values) { v.Set("response_type", "token") }, true, "unauthorized_client"},
		{"resource with fragment", func(v url.Values) { v.Set("resource", resourceA+"#x") }, true, "invalid_target"},
		{"resource not served", func(v url.Values) { v.Set("resource", "https://elsewhere.example.com/mcp") }, true, "invalid_target"},
		{"relative resource", func(v url.Values) { v.Set("resource", "/mcp") }, true, "invalid_target"},
		{"unregistered redirect URI", func(v url.Values) { v.Set("redirect_uri", "https://attacker.example.com/cb") }, false, "invalid_request"},
		{"redirect URI differing in port", func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:10/callback") }, false, "invalid_request"},
		{"unknown client", func(v url.Values) { v.Set("client_id", "client_nobody") }, false, "invalid_request"},
		{"no client", func(v url.Values) { v.Del("client_id") }, false, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := authParams(c.ID, pk)
			tc.change(params)
			resp := oauthtest.Authorize(t, e.endpoint("authorization_endpoint"), params)
			if !tc.redirect {
				if loc := resp.Header.Get("Location"); loc != "" || resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("got %d to %q; want 400 and no redirect", resp.StatusCode, loc)
				}
				return
			}
			q := callback(t, resp)
			if q.Get("error") != tc.error || q.Get("state") != "st-1" || q.Get("iss") != e.Issuer || q.Get("code") != "" {
				t.Fatalf("error response %v: want error %s with state and iss %s", q, tc.error, e.Issuer)
			}
		})
	}
}

// TestTokenRefusals: each misuse of a code or a refresh token is refused with the OAuth
// error RFC 6749, 7636 and 8707 name, as JSON, never a 5xx.
func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		clk := newClock()
		cfg := devConfig()
		cfg.Now = clk.Now
		e := start(t, b, cfg)
		c, other := e.register(t, nil), e.register(t, nil)
		rs := e.register(t, map[string]any{"token_endpoint_auth_method": "client_secret_post", "grant_types": []string{"authorization_code"}})
		active := func(token string) bool {
			var out map[string]any
			oauthtest.PostForm(t, e.endpoint("introspection_endpoint"),
				url.Values{"token": {token}, "client_id": {rs.ID}, "client_secret": {rs.Secret}}, "", "", &out)
			return out["active"] == true
		}
		fresh := func() (string, oauthtest.PKCE) {
			pk := oauthtest.NewPKCE()
			return e.code(t, authParams(c.ID, pk)), pk
		}
		for _, tc := range []struct {
			name   string
			run    func() (int, map[string]any)
			status int
			error  string
		}{
			{"wrong verifier", func() (int, map[string]any) {
				code, _ := fresh()
				return e.token(t, c, exchange(code, oauthtest.NewPKCE()))
			}, 400, "invalid_grant"},
			{"missing verifier", func() (int, map[string]any) {
				code, pk := fresh()
				f := exchange(code, pk)
				f.Del("code_verifier")
				return e.token(t, c, f)
			}, 400, "invalid_request"},
			{"another redirect URI", func() (int, map[string]any) {
				code, pk := fresh()
				f := exchange(code, pk)
				f.Set("redirect_uri", "http://127.0.0.1:9/other")
				return e.token(t, c, f)
			}, 400, "invalid_grant"},
			{"another client's code", func() (int, map[string]any) {
				code, pk := fresh()
				return e.token(t, other, exchange(code, pk))
			}, 400, "invalid_grant"},
			{"token for another resource", func() (int, map[string]any) {
				code, pk := fresh()
				f := exchange(code, pk)
				f.Set("resource", resourceB)
				return e.token(t, c, f)
			}, 400, "invalid_target"},
			{"unknown code", func() (int, map[string]any) {
				return e.token(t, c, exchange("kvc_nothing", oauthtest.NewPKCE()))
			}, 400, "invalid_grant"},
			{"unknown grant type", func() (int, map[string]any) {
				return e.token(t, c, url.Values{"grant_type": {"password"}})
			}, 400, "unsupported_grant_type"},
			{"client credentials", func() (int, map[string]any) {
				return e.token(t, rs, url.Values{"grant_type": {"client_credentials"}, "client_secret": {rs.Secret}})
			}, 400, "unsupported_grant_type"},
			{"wrong client secret", func() (int, map[string]any) {
				return e.token(t, registration{ID: rs.ID, Secret: "kvs_wrong"}, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {redirectURI}})
			}, 401, "invalid_client"}, // through the Authorization header: RFC 6749 section 5.2
			{"unknown refresh token", func() (int, map[string]any) {
				return e.token(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"kvr_nothing"}})
			}, 400, "invalid_grant"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := tc.run()
				wantOAuthError(t, tc.name, status, body, tc.status, tc.error)
			})
		}

		t.Run("replayed code revokes its tokens", func(t *testing.T) {
			code, pk := fresh()
			status, tok := e.token(t, c, exchange(code, pk))
			if status != http.StatusOK || !active(tok["access_token"].(string)) {
				t.Fatalf("first use: %d %v", status, tok)
			}
			status, body := e.token(t, c, exchange(code, pk))
			wantOAuthError(t, "replay", status, body, 400, "invalid_grant")
			if active(tok["access_token"].(string)) {
				t.Fatal("the access token issued for a replayed code must be revoked")
			}
			status, body = e.token(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
			wantOAuthError(t, "refresh after replay", status, body, 400, "invalid_grant")
		})

		t.Run("old refresh token after rotation", func(t *testing.T) {
			code, pk := fresh()
			_, tok := e.token(t, c, exchange(code, pk))
			refresh := func(rt any) (int, map[string]any) {
				return e.token(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt.(string)}})
			}
			status, next := refresh(tok["refresh_token"])
			if status != http.StatusOK {
				t.Fatalf("rotation: %d %v", status, next)
			}
			status, body := refresh(tok["refresh_token"])
			wantOAuthError(t, "old refresh token", status, body, 400, "invalid_grant")
			status, body = refresh(next["refresh_token"])
			wantOAuthError(t, "the replay revoked the family", status, body, 400, "invalid_grant")
			if active(next["access_token"].(string)) {
				t.Fatal("the family's access token must be revoked")
			}
		})

		t.Run("revoked access token at introspection", func(t *testing.T) {
			code, pk := fresh()
			_, tok := e.token(t, c, exchange(code, pk))
			var none map[string]any
			oauthtest.PostForm(t, e.endpoint("revocation_endpoint"), url.Values{"token": {tok["access_token"].(string)}, "client_id": {c.ID}}, "", "", &none)
			if active(tok["access_token"].(string)) {
				t.Fatal("a revoked token is inactive")
			}
		})

		t.Run("expired code and token", func(t *testing.T) {
			code, pk := fresh()
			_, tok := e.token(t, c, exchange(code, pk))
			late, latePK := fresh()
			clk.Advance(11 * time.Minute)
			status, body := e.token(t, c, exchange(late, latePK))
			wantOAuthError(t, "expired code", status, body, 400, "invalid_grant")
			if active(tok["access_token"].(string)) {
				t.Fatal("an access token older than 10 minutes is inactive")
			}
			if !strings.HasPrefix(tok["refresh_token"].(string), "kvr_") {
				t.Fatalf("refresh token shape: %v", tok["refresh_token"])
			}
		})
	})
}

// TestBadInputIsNever5xx throws malformed requests at every endpoint: each is refused as
// the client's fault, with a 4xx or, past a registered redirect URI, an error redirect.
func TestBadInputIsNever5xx(t *testing.T) {
	t.Parallel()
	e := start(t, testserver.Backends[0], devConfig())
	c := e.register(t, nil)
	form, json := "application/x-www-form-urlencoded", "application/json"
	huge := strings.Repeat("a", 100<<10)
	for _, tc := range []struct{ method, path, contentType, body string }{
		{"POST", "/token", form, "grant_type=authorization_code"},
		{"POST", "/token", form, "grant_type=authorization_code&client_id=" + c.ID + "&code=x&redirect_uri=%zz"},
		{"POST", "/token", form, "grant_type=refresh_token&client_id=" + c.ID},
		{"POST", "/token", form, "client_id=" + huge},
		{"POST", "/token", json, `{"grant_type":"authorization_code"}`},
		{"GET", "/token", "", ""},
		{"POST", "/introspect", form, "token=x"},
		{"POST", "/introspect", form, "token=x&client_id=" + c.ID + "&client_secret=y"},
		{"POST", "/revoke", form, "token=x"},
		{"POST", "/revoke", form, "client_id=" + c.ID},
		{"POST", "/register", json, "{"},
		{"POST", "/register", json, `{"redirect_uris": "not a list"}`},
		{"POST", "/register", json, `{"redirect_uris": ["https://a.example/` + huge + `"]}`},
		{"POST", "/register", "text/plain", "hello"},
		{"GET", "/register", "", ""},
		{"GET", "/authorize?client_id=%00&response_type=code", "", ""},
		{"GET", "/authorize?client_id=" + c.ID + "&redirect_uri=" + url.QueryEscape(redirectURI) + "&request=eyJ", "", ""},
		{"GET", "/authorize?" + strings.Repeat("scope=x&", 500), "", ""},
		{"GET", "/login", "", ""},
		{"GET", "/login?id=ar_nothing", "", ""},
		{"POST", "/consent", form, "id=ar_nothing&csrf=x"},
		{"POST", "/consent", form, "%%%"},
		{"GET", "/login/callback?state=x.y&code=z", "", ""},
		{"GET", "/userinfo", "", ""},
		{"GET", "/userinfo", "", "access_token=garbage"},
		{"GET", "/nothing-here", "", ""},
	} {
		req, err := http.NewRequest(tc.method, e.Issuer+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		resp, err := oauthtest.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc, err := resp.Location(); err == nil && strings.HasPrefix(loc.String(), redirectURI) && loc.Query().Get("error") != "" {
			continue // an authorization error answered at the client's registered redirect URI
		}
		if resp.StatusCode >= 500 || resp.StatusCode < 400 {
			t.Errorf("%s %s %.60q: %d, want a 4xx", tc.method, tc.path, tc.body, resp.StatusCode)
		}
	}
}

// TestTokenEndpointsTakeOnlyPOST: the token, revocation and introspection endpoints refuse
// any method but POST (RFC 6749 section 3.2), with 405 and Allow, so that a code, a
// verifier or a secret sent in a URL is never accepted; the code stays unspent and is
// redeemed afterwards by POST.
func TestTokenEndpointsTakeOnlyPOST(t *testing.T) {
	t.Parallel()
	e := start(t, testserver.Backends[0], devConfig())
	c := e.register(t, nil)
	pk := oauthtest.NewPKCE()
	form := exchange(e.code(t, authParams(c.ID, pk)), pk)
	form.Set("client_id", c.ID)
	for _, endpoint := range []string{"token_endpoint", "revocation_endpoint", "introspection_endpoint"} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodHead, http.MethodOptions, "OPTIONS+Origin"} {
			req, err := http.NewRequest(strings.TrimSuffix(method, "+Origin"), e.endpoint(endpoint)+"?"+form.Encode(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(method, "+Origin") { // an Origin, but not a CORS preflight
				req.Header.Set("Origin", "https://app.example.com")
			}
			resp, err := oauthtest.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "POST") {
				t.Errorf("%s %s: %d, Allow %q; want 405 allowing POST", method, endpoint, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
	if status, out := e.token(t, c, form); status != http.StatusOK {
		t.Fatalf("the code after the refused GETs: %d %v", status, out)
	}
}

// TestUserinfoChallenges: userinfo's 401s carry the challenge RFC 6750 section 3 requires,
// a Bearer challenge in the issuer's realm, with error="invalid_token" (in the header and
// the body) when a token was sent but not accepted; a good token is answered as before.
func TestUserinfoChallenges(t *testing.T) {
	t.Parallel()
	e := start(t, testserver.Backends[0], devConfig())
	c := e.register(t, nil)
	pk := oauthtest.NewPKCE()
	params := authParams(c.ID, pk)
	params.Set("scope", "openid mcp")
	status, tok := e.token(t, c, exchange(e.code(t, params), pk))
	if status != http.StatusOK {
		t.Fatalf("code flow: %d %v", status, tok)
	}
	for _, tc := range []struct {
		name, authorization, challenge, error string
		status                                int
	}{
		{"no token", "", `Bearer realm="` + e.Issuer + `"`, "invalid_request", 401},
		{"a token not accepted", "Bearer not-a-token", `Bearer realm="` + e.Issuer + `", error="invalid_token"`, "invalid_token", 401},
		{"a token in the query, not accepted", "?not-a-token", `Bearer realm="` + e.Issuer + `", error="invalid_token"`, "invalid_token", 401},
		{"a good token", "Bearer " + tok["access_token"].(string), "", "", 200},
	} {
		u := e.endpoint("userinfo_endpoint")
		if token, ok := strings.CutPrefix(tc.authorization, "?"); ok {
			u += "?access_token=" + token
		}
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if strings.HasPrefix(tc.authorization, "Bearer ") {
			req.Header.Set("Authorization", tc.authorization)
		}
		resp, err := oauthtest.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge || (tc.error != "" && out["error"] != tc.error) {
			t.Errorf("%s: %d %q %v, want %d %q %s", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), out, tc.status, tc.challenge, tc.error)
		}
	}
	// A form that cannot be read is a 400, with a good token too, as before the challenge.
	for _, body := range []string{"access_token=" + tok["access_token"].(string) + "&x=%zz", "x=" + strings.Repeat("a", 70<<10)} {
		req, _ := http.NewRequest(http.MethodPost, e.endpoint("userinfo_endpoint"), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
		resp, err := oauthtest.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a form of %d bytes that cannot be read: %d, want 400", len(body), resp.StatusCode)
		}
	}
}
