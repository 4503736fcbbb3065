package main

import (
	"testing"

	"github.com/spf13/pflag"
)

// TestServeDPoPNonces: --dpop-nonces (or KAVACH_DPOP_NONCES) turns on the authorization
// server's DPoP nonces; it is off by default and needs --issuer.
func TestServeDPoPNonces(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want bool
	}{
		{"off by default", "", nil, false},
		{"the flag", "", []string{"--dpop-nonces"}, true},
		{"the environment", "true", nil, true},
	} {
		t.Setenv("KAVACH_DPOP_NONCES", tc.env)
		c, err := parseServe(t, append([]string{"--issuer", "https://auth.example.com"}, tc.args...)...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		oc, err := c.OAuth.oidcConfig(nil)
		if err != nil || oc.DPoPNonces != tc.want {
			t.Errorf("%s: DPoPNonces %v, %v; want %v", tc.name, oc.DPoPNonces, err, tc.want)
		}
	}
	t.Setenv("KAVACH_DPOP_NONCES", "")
	c, err := parseServe(t, "--dpop-nonces")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.OAuth.oidcConfig(nil); err == nil {
		t.Error("--dpop-nonces without --issuer was accepted")
	}
}

// TestGatewayDPoPNonceOptions: kavach gateway --dpop-nonces (or KAVACH_DPOP_NONCES)
// requires nonces of DPoP-bound tokens, with the secret from KAVACH_DPOP_NONCE_SECRET, which
// is never a flag, so that it stays out of process listings.
func TestGatewayDPoPNonceOptions(t *testing.T) {
	for _, tc := range []struct {
		name, env, secret string
		args              []string
		want              bool
	}{
		{"off by default", "", "", nil, false},
		{"the flag, a secret of this process", "", "", []string{"--dpop-nonces"}, true},
		{"the environment, with the fleet's secret", "true", "shared by the fleet", nil, true},
	} {
		t.Setenv("KAVACH_DPOP_NONCES", tc.env)
		t.Setenv("KAVACH_DPOP_NONCE_SECRET", tc.secret)
		fs := pflag.NewFlagSet("gateway", pflag.ContinueOnError)
		o := bindGatewayFlags(fs)
		if err := fs.Parse(append([]string{"--upstream", "http://127.0.0.1:9/mcp", "--server", "demo"}, tc.args...)); err != nil {
			t.Fatal(err)
		}
		c := o.config(nil, nil)
		if c.DPoPNonces != tc.want || string(c.DPoPNonceSecret) != tc.secret {
			t.Errorf("%s: DPoPNonces %v, secret %q; want %v, %q", tc.name, c.DPoPNonces, c.DPoPNonceSecret, tc.want, tc.secret)
		}
	}
}
