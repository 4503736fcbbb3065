package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/console"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/oidc"
	"github.com/kavachos/kavach-go/service"
)

// TestUpstreamLogin: with an upstream OpenID provider (here another Kavach authorization
// server with its own headless login), the console logs the person in there and acts as
// the user its ID token names; a callback with another state is refused.
func TestUpstreamLogin(t *testing.T) {
	up := oauthtest.Start(t, testserver.Backends[0].New(t), oidc.Config{
		Login: oidc.LoginConfig{DevLogin: true, DevAutoApprove: true, DevUser: "upstream-alice"},
	})
	s := testserver.StartWith(t, testserver.Backends[0].New(t), testserver.Options{
		Mounts: func(k *kavach.Kavach, base string) []service.Mount {
			callback := base + console.Prefix + "/login/callback"
			var reg map[string]any
			if code := oauthtest.PostJSON(t, up.Issuer+"/register", "", map[string]any{
				"redirect_uris": []string{callback}, "token_endpoint_auth_method": "client_secret_basic",
				"grant_types": []string{"authorization_code"}, "client_name": "console",
			}, &reg); code != http.StatusCreated {
				t.Fatalf("register at the upstream provider: %d %v", code, reg)
			}
			login, err := oidc.NewUserLogin(t.Context(), oidc.UpstreamConfig{
				Issuer: up.Issuer, ClientID: reg["client_id"].(string), ClientSecret: reg["client_secret"].(string),
			}, callback)
			if err != nil {
				t.Fatal(err)
			}
			c, err := console.New(console.Config{Kavach: k, Upstream: login, URL: base + console.Prefix, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			return []service.Mount{{Paths: c.Paths(), Handler: c}}
		},
	})
	u := &user{t: t, s: s, c: newClient()}
	if _, page := u.do(http.MethodGet, "/console/login", nil); !strings.Contains(page, "/console/login/upstream") || strings.Contains(page, `name="username"`) {
		t.Fatalf("login page with only the upstream login:\n%s", page)
	}
	// The login began at a deep link, which it ends at.
	target := s.URL + "/console/login/upstream?next=" + url.QueryEscape("/console/audit?code=NO_PERMISSION")
	var hops []string
	for range 8 { // console → upstream authorize → upstream login → console callback → the deep link
		resp, err := u.c.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("hop %s: status %d after %v", target, resp.StatusCode, hops)
		}
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		hops = append(hops, loc.RequestURI())
		if loc.Path == "/console/audit" {
			break
		}
		if loc.Path == "/console/login/callback" {
			// A forged state is refused before the real answer is taken.
			forged := *loc
			q := forged.Query()
			q.Set("state", "forged")
			forged.RawQuery = q.Encode()
			if resp, _ := u.do(http.MethodGet, forged.RequestURI(), nil); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("forged state: %d", resp.StatusCode)
			}
		}
		target = loc.String()
	}
	if hops[len(hops)-1] != "/console/audit?code=NO_PERMISSION" {
		t.Fatalf("the login did not end at the console: %v", hops)
	}
	if _, page := u.do(http.MethodGet, "/console/approvals", nil); !strings.Contains(page, "upstream-alice (user)") {
		t.Fatalf("after the upstream login:\n%s", page)
	}
}
