package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/oidc"
)

// TestServeTrustedIdPs: --trusted-idp may be repeated and hold several pairs; the command
// line replaces the environment, which replaces the config file, and none adds to another.
func TestServeTrustedIdPs(t *testing.T) {
	idp := func(name string) oidc.TrustedIdP {
		return oidc.TrustedIdP{Issuer: "https://" + name + ".example", JWKSURL: "https://" + name + ".example/jwks?v=1"}
	}
	flag := func(names ...string) string {
		var pairs []string
		for _, n := range names {
			pairs = append(pairs, idp(n).Issuer+"="+idp(n).JWKSURL)
		}
		return strings.Join(pairs, ",")
	}
	file := filepath.Join(t.TempDir(), "kavach.yaml")
	if err := os.WriteFile(file, []byte("issuer: https://auth.example.com\ntrustedIdPs:\n  - "+flag("file")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want []string
	}{
		{"repeated", "", []string{"--trusted-idp", flag("a"), "--trusted-idp", flag("b", "c")}, []string{"a", "b", "c"}},
		{"the command line over the environment", flag("env"), []string{"--trusted-idp", flag("a")}, []string{"a"}},
		{"the environment", flag("env", "env2"), nil, []string{"env", "env2"}},
		{"the config file", "", []string{"--config", file}, []string{"file"}},
		{"the environment over the config file", flag("env"), []string{"--config", file}, []string{"env"}},
		{"the command line over the config file", "", []string{"--config", file, "--trusted-idp", flag("a"), "--trusted-idp", flag("b")}, []string{"a", "b"}},
	} {
		t.Setenv("KAVACH_TRUSTED_IDP", tc.env)
		c, err := parseServe(t, append([]string{"--issuer", "https://auth.example.com"}, tc.args...)...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		oc, err := c.OAuth.oidcConfig(nil)
		var want []oidc.TrustedIdP
		for _, n := range tc.want {
			want = append(want, idp(n))
		}
		if err != nil || !slices.Equal(oc.TrustedIdPs, want) {
			t.Errorf("%s: %v, %v; want %v", tc.name, oc.TrustedIdPs, err, want)
		}
	}

	t.Setenv("KAVACH_TRUSTED_IDP", "")
	c, err := parseServe(t, "--issuer", "https://auth.example.com", "--trusted-idp", "https://idp.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.OAuth.oidcConfig(nil); err == nil || !strings.Contains(err.Error(), "ISSUER=JWKS_URL") {
		t.Errorf("a provider without its keys: %v, want a refusal", err)
	}
	c, err = parseServe(t, "--trusted-idp", flag("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.OAuth.oidcConfig(nil); err == nil || !strings.Contains(err.Error(), "--issuer") {
		t.Errorf("--trusted-idp without --issuer: %v, want an error naming --issuer", err)
	}
}

// TestServeWithTrustedIdP: kavach serve --trusted-idp offers the jwt-bearer grant.
func TestServeWithTrustedIdP(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := startServe(t, t.TempDir(), nil, "--listen", addr, "--issuer", "http://"+addr+"/oauth",
		"--trusted-idp", "https://idp.example=https://idp.example/jwks")
	defer s.stop(t)
	resp, err := http.Get(s.url + "/.well-known/oauth-authorization-server/oauth")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var meta struct {
		GrantTypes []string `json:"grant_types_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil || !slices.Contains(meta.GrantTypes, "urn:ietf:params:oauth:grant-type:jwt-bearer") {
		t.Fatalf("grant_types_supported %v, %v: want the jwt-bearer grant", meta.GrantTypes, err)
	}
}
