// Package oauthtest runs Kavach with its OAuth authorization server on a loopback port and
// plays an OAuth 2.1 client against it over real HTTP, step by step, so that tests can check
// every hop of the MCP authorization flow.
package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/oidc"
	"github.com/kavachos/kavach-go/service"
)

// Server is Kavach serving its API and its authorization server at Issuer (URL + "/oauth").
type Server struct {
	*testserver.Server
	Issuer   string
	Provider *oidc.Provider
}

// Start runs Kavach on database with the authorization server configured by cfg (Issuer,
// Store, Agents and Delegations are filled in). Audit events are committed before authorize
// returns.
func Start(t testing.TB, database string, cfg oidc.Config) *Server {
	t.Helper()
	return StartConfigured(t, database, cfg, nil)
}

// StartConfigured is Start with a last say over the configuration once the issuer is known.
func StartConfigured(t testing.TB, database string, cfg oidc.Config, configure func(*oidc.Config)) *Server {
	t.Helper()
	out := &Server{}
	out.Server = testserver.StartWith(t, database, testserver.Options{SyncAudit: true, Mounts: func(k *kavach.Kavach, base string) []service.Mount {
		cfg.Issuer, cfg.Store, cfg.Agents, cfg.Delegations = base+"/oauth", k.Store(), k.Agents(), k.Delegations()
		if configure != nil {
			configure(&cfg)
		}
		p, err := oidc.New(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		out.Issuer, out.Provider = cfg.Issuer, p
		return []service.Mount{{Paths: p.Paths(), Handler: p, Endpoints: p.Endpoints()}}
	}})
	return out
}

// HTTP is a client that does not follow redirects, so every hop can be looked at.
var HTTP = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// GetJSON fetches a JSON document and returns its status and body.
func GetJSON(t testing.TB, u string, out any) int {
	t.Helper()
	resp, err := HTTP.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	decode(t, resp, out)
	return resp.StatusCode
}

// PostForm posts a form (with basic client authentication when secret is set) and decodes
// the JSON answer.
func PostForm(t testing.TB, u string, form url.Values, clientID, secret string, out any) *http.Response {
	t.Helper()
	return post(t, u, "application/x-www-form-urlencoded", form.Encode(), out, func(r *http.Request) {
		if secret != "" {
			r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
		}
	})
}

// PostJSON posts a JSON body with an optional bearer token and decodes the JSON answer.
func PostJSON(t testing.TB, u, bearer string, body, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return post(t, u, "application/json", string(b), out, func(r *http.Request) {
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
	}).StatusCode
}

// post sends a body, lets authenticate set credentials, and decodes the JSON answer.
func post(t testing.TB, u, contentType, body string, out any, authenticate func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	authenticate(req)
	resp, err := HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	decode(t, resp, out)
	return resp
}

func decode(t testing.TB, resp *http.Response, out any) {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s answered %d with %q: %v", resp.Request.Method, resp.Request.URL, resp.StatusCode, b, err)
		}
	}
}

// PKCE is a code verifier and its S256 challenge.
type PKCE struct{ Verifier, Challenge string }

// NewPKCE makes a fresh verifier and challenge.
func NewPKCE() PKCE {
	v := base64.RawURLEncoding.EncodeToString([]byte(rand.Text() + rand.Text()))
	sum := sha256.Sum256([]byte(v))
	return PKCE{Verifier: v, Challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// Authorize sends an authorization request and follows the authorization server's own
// redirects (login, consent) until the answer leaves it. It returns the last response: a
// redirect to the client, or the server's own refusal.
func Authorize(t testing.TB, authorizeURL string, params url.Values) *http.Response {
	t.Helper()
	target := authorizeURL + "?" + params.Encode()
	base, err := url.Parse(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		resp, err := HTTP.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil || loc.Host != base.Host || !strings.HasPrefix(loc.Path, "/oauth/") {
			return resp
		}
		target = loc.String()
	}
	t.Fatal("too many redirects within the authorization server")
	return nil
}
