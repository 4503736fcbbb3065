package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeOAuthSettings: the OAuth settings come from flags and KAVACH_* variables like
// every other, and login options without an issuer are refused.
func TestServeOAuthSettings(t *testing.T) {
	t.Setenv("KAVACH_ISSUER", "https://auth.example.com")
	t.Setenv("KAVACH_OAUTH_RESOURCE", "files=https://mcp.example.com/mcp,git=https://git.example.com/mcp")
	c, err := parseServe(t, "--dev-login-auto-approve", "--oauth-registration", "token", "--oauth-initial-access-tokens", "a,b",
		"--oauth-access-token-ttl", "5m")
	if err != nil {
		t.Fatal(err)
	}
	oc, err := c.OAuth.oidcConfig([]string{"10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if oc.Issuer != "https://auth.example.com" || !oc.Login.DevLogin || !oc.Login.DevAutoApprove || oc.Registration != "token" ||
		len(oc.InitialAccessTokens) != 2 || oc.AccessTokenTTL != 5*time.Minute || oc.Resources["https://git.example.com/mcp"] != "git" ||
		oc.Login.TrustedProxies[0] != "10.0.0.1" {
		t.Fatalf("OAuth settings: %+v", oc)
	}
	t.Setenv("KAVACH_ISSUER", "")
	for _, args := range [][]string{{"--dev-login"}, {"--upstream-issuer", "https://idp.example.com"}} {
		c, err := parseServe(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.OAuth.oidcConfig(nil); err == nil || !strings.Contains(err.Error(), "--issuer") {
			t.Errorf("%v without --issuer: %v, want an error naming --issuer", args, err)
		}
	}
	c, err = parseServe(t, "--issuer", "https://a.example.com", "--oauth-resource", "broken")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.OAuth.oidcConfig(nil); err == nil {
		t.Error("a resource without NAME= is refused")
	}
}

// TestServeWithOAuth: kavach serve --issuer mounts the authorization server under the
// issuer's path, beside the API and its health routes.
func TestServeWithOAuth(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	issuer := "http://" + addr + "/oauth"
	s := startServe(t, t.TempDir(), nil, "--listen", addr, "--issuer", issuer, "--dev-login-auto-approve")
	defer s.stop(t)
	var meta map[string]any
	resp, err := http.Get(s.url + "/.well-known/oauth-authorization-server/oauth")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil || meta["issuer"] != issuer ||
		meta["authorization_endpoint"] != issuer+"/authorize" {
		t.Fatalf("metadata: %v %v", meta, err)
	}
	if code := call(t, "GET", s.url+"/healthz", "", "", nil); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
	if !strings.Contains(s.log(), "development login is on") {
		t.Errorf("the dev login is announced in the log:\n%s", s.log())
	}
}
