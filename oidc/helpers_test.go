package oidc_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/oidc"
)

const (
	redirectURI = "http://127.0.0.1:9/callback"
	resourceA   = "https://mcp-a.example.com/mcp"
	resourceB   = "https://mcp-b.example.com/mcp"
)

// clock is a settable clock for the provider.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// devConfig is a provider configuration with the headless dev login and two resources.
func devConfig() oidc.Config {
	return oidc.Config{
		Login:     oidc.LoginConfig{DevLogin: true, DevAutoApprove: true},
		Resources: map[string]string{resourceA: "alpha", resourceB: "beta"},
	}
}

// env is one running server and what the tests ask of it.
type env struct {
	*oauthtest.Server
	meta map[string]any
}

func start(t *testing.T, b testserver.Backend, cfg oidc.Config) *env {
	t.Helper()
	srv := oauthtest.Start(t, b.New(t), cfg)
	e := &env{Server: srv}
	if code := oauthtest.GetJSON(t, srv.URL+"/.well-known/oauth-authorization-server/oauth", &e.meta); code != http.StatusOK {
		t.Fatalf("metadata: %d", code)
	}
	return e
}

func (e *env) endpoint(name string) string { return e.meta[name].(string) }

// registration is a registered client.
type registration struct {
	ID, Secret string
}

// register registers a client with the given metadata (redirect URI and refresh grant by
// default).
func (e *env) register(t *testing.T, meta map[string]any) registration {
	t.Helper()
	if meta == nil {
		meta = map[string]any{}
	}
	if _, ok := meta["redirect_uris"]; !ok {
		meta["redirect_uris"] = []string{redirectURI}
	}
	if _, ok := meta["grant_types"]; !ok {
		meta["grant_types"] = []string{"authorization_code", "refresh_token"}
	}
	if _, ok := meta["token_endpoint_auth_method"]; !ok {
		meta["token_endpoint_auth_method"] = "none"
	}
	meta["client_name"] = "test client"
	var out map[string]any
	if code := oauthtest.PostJSON(t, e.endpoint("registration_endpoint"), "", meta, &out); code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, out)
	}
	r := registration{ID: out["client_id"].(string)}
	if s, ok := out["client_secret"].(string); ok {
		r.Secret = s
	}
	return r
}

// authParams are the parameters of an authorization request with PKCE S256 for resourceA.
func authParams(clientID string, pk oauthtest.PKCE) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI}, "state": {"st-1"},
		"scope": {"mcp"}, "code_challenge": {pk.Challenge}, "code_challenge_method": {"S256"}, "resource": {resourceA},
	}
}

// callback is the authorization response at the client's redirect URI.
func callback(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), redirectURI) {
		t.Fatalf("want a redirect to the client, got %d %v", resp.StatusCode, loc)
	}
	return loc.Query()
}

// code runs the authorization request and returns the code.
func (e *env) code(t *testing.T, params url.Values) string {
	t.Helper()
	q := callback(t, oauthtest.Authorize(t, e.endpoint("authorization_endpoint"), params))
	if q.Get("code") == "" {
		t.Fatalf("no code in %v", q)
	}
	return q.Get("code")
}

// token posts to the token endpoint and returns the status and JSON answer.
func (e *env) token(t *testing.T, r registration, form url.Values) (int, map[string]any) {
	t.Helper()
	if r.Secret == "" {
		form.Set("client_id", r.ID)
	}
	var out map[string]any
	resp := oauthtest.PostForm(t, e.endpoint("token_endpoint"), form, r.ID, r.Secret, &out)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token response Cache-Control %q, want no-store", cc)
	}
	return resp.StatusCode, out
}

func exchange(code string, pk oauthtest.PKCE) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"code_verifier": {pk.Verifier}, "resource": {resourceA}}
}

// claims decodes a JWT's payload without checking it.
func claims(t *testing.T, jwt string) map[string]any { return jwtPart(t, jwt, 1) }

// header decodes a JWT's header without checking it.
func header(t *testing.T, jwt string) map[string]any { return jwtPart(t, jwt, 0) }

func jwtPart(t *testing.T, jwt string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantOAuthError(t *testing.T, what string, status int, body map[string]any, wantStatus int, wantError string) {
	t.Helper()
	if status != wantStatus || body["error"] != wantError {
		t.Fatalf("%s: got %d %v, want %d %s", what, status, body, wantStatus, wantError)
	}
}

// docShellBlocks returns the sh code blocks of docs/oauth.md's section under heading, for
// the tests that run a documented example as written. Without curl they are skipped.
func docShellBlocks(t *testing.T, heading string) []string {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	doc, err := os.ReadFile("../docs/oauth.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("docs/oauth.md has no section %q", heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for rest := section; ; {
		var block string
		var found bool
		if _, rest, found = strings.Cut(rest, "```sh\n"); !found {
			return blocks
		}
		block, rest, _ = strings.Cut(rest, "```")
		blocks = append(blocks, block)
	}
}

// runShell runs a documented example with bash, with env added, and decodes the JSON it
// prints; it fails the test otherwise.
func runShell(t *testing.T, script string, env ...string) map[string]any {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var v map[string]any
	if err != nil || json.Unmarshal(out, &v) != nil {
		t.Fatalf("%v\n%s\n%s", err, script, out)
	}
	return v
}
