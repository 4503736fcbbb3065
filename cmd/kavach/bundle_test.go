package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rsaKeyFiles writes an RSA key pair into dir and returns the private and public files.
func rsaKeyFiles(t *testing.T, dir string) (private, public string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	private, public = filepath.Join(dir, "signing.pem"), filepath.Join(dir, "verify.pem")
	writeFile(t, private, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})))
	writeFile(t, public, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})))
	return private, public
}

// rulesDir writes a bundle source directory of the given files.
func rulesDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

// failingRules is a policy directory whose one test fails.
func failingRules(t *testing.T) string {
	return rulesDir(t, map[string]string{"kavach/custom/rules_test.rego": "package kavach.custom_test\nimport rego.v1\ntest_always_fails if 1 == 2\n"})
}

// TestBundleInspectRunsActivationChecks: inspect verifies, then refuses — exit 1, with the
// server's message — every bundle a server refuses: a failing test, a package outside
// kavach.custom, recursion into kavach.authz.
func TestBundleInspectRunsActivationChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	priv, pub := rsaKeyFiles(t, dir)
	build := func(src, out string) {
		t.Helper()
		if _, errOut, err := kavachCmd(t, dir, "bundle", "build", src, "-o", out, "--revision", "r1", "--signing-key", priv); err != nil {
			t.Fatalf("bundle build: %v %s", err, errOut)
		}
	}
	build(filepath.Join(repoRoot(t), "bundles", "example"), "good.tar.gz")
	out, errOut, err := kavachCmd(t, dir, "bundle", "inspect", "good.tar.gz", "--verification-key", pub)
	if err != nil || !strings.Contains(out, "signature: verified") || !strings.Contains(out, "module:    bundle/kavach/custom/rules.rego") || !strings.Contains(out, "checks:    passed") {
		t.Fatalf("the example bundle: %v\n%s%s", err, out, errOut)
	}

	// From a URL, as a server polls it.
	hs := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer hs.Close()
	if out, errOut, err := kavachCmd(t, dir, "bundle", "inspect", hs.URL+"/good.tar.gz", "--verification-key", pub); err != nil || !strings.Contains(out, "checks:    passed") {
		t.Fatalf("the example bundle from a URL: %v\n%s%s", err, out, errOut)
	}

	build(failingRules(t), "failing.tar.gz")
	build(rulesDir(t, map[string]string{"kavach/custom/loop.rego": `package kavach.custom
import rego.v1
deny contains {"code": "POLICY_DENIED", "reason": "loop"} if data.kavach.authz.decision.code == "ALLOWED"
`}), "recursive.tar.gz")
	// A bundle made by other tools: its manifest claims kavach/custom, its module is not.
	outside := rulesDir(t, map[string]string{
		".manifest":                `{"revision": "r9", "roots": ["kavach/custom"]}`,
		"kavach/custom/allow.rego": "package kavach.authz\nimport rego.v1\ndecision := {\"code\": \"ALLOWED\"}\n",
	})
	cases := []struct{ name, bundle, want string }{
		{"a failing test", "failing.tar.gz", "revision r1: its tests failed: data.kavach.custom_test.test_always_fails"},
		{"recursion into kavach.authz", "recursive.tar.gz", "recursion"},
		{"a package outside kavach.custom", outside, "package kavach.authz"},
	}
	for _, tc := range cases {
		args := []string{"bundle", "inspect", tc.bundle}
		if !strings.HasPrefix(tc.bundle, "/") {
			args = append(args, "--verification-key", pub)
		}
		out, errOut, err := kavachCmd(t, dir, args...)
		if exitCode(err) != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(out, "checks:    passed") {
			t.Errorf("%s: want exit 1 saying %q, got %v\n%s%s", tc.name, tc.want, err, out, errOut)
		}
	}
}

// TestBundleSigningFlags: bundle build and inspect take every algorithm OPA verifies and a
// scope, and say clearly when the verifying side expects another.
func TestBundleSigningFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	priv, pub := rsaKeyFiles(t, dir)
	src := filepath.Join(repoRoot(t), "bundles", "example")
	for _, alg := range []string{"RS384", "PS256", "HS512"} {
		sign, verify := priv, pub
		if alg == "HS512" {
			sign, verify = "a shared secret", "a shared secret"
		}
		if _, errOut, err := kavachCmd(t, dir, "bundle", "build", src, "-o", alg+".tar.gz", "--signing-key", sign, "--alg", alg, "--scope", "prod", "--key-id", "ci"); err != nil {
			t.Fatalf("%s: build: %v %s", alg, err, errOut)
		}
		if out, errOut, err := kavachCmd(t, dir, "bundle", "inspect", alg+".tar.gz", "--verification-key", verify, "--alg", alg, "--scope", "prod", "--key-id", "ci"); err != nil || !strings.Contains(out, "signature: verified") {
			t.Fatalf("%s: inspect: %v %s%s", alg, err, out, errOut)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bundle", "inspect", "PS256.tar.gz", "--verification-key", pub, "--scope", "prod", "--key-id", "ci"}, "signed with PS256, and the verification key is set up for RS256"},
		{[]string{"bundle", "inspect", "PS256.tar.gz", "--verification-key", pub, "--alg", "PS256", "--scope", "dev", "--key-id", "ci"}, `has scope "prod", and the verification key requires scope "dev"`},
		{[]string{"bundle", "build", src, "--signing-key", priv, "--alg", "ES384"}, "ES384 needs an ECDSA P-384 key, and this is an RSA key"},
		{[]string{"bundle", "build", src, "--signing-key", priv, "--alg", "EdDSA"}, "want one of RS256"},
	} {
		_, errOut, err := kavachCmd(t, dir, tc.args...)
		if exitCode(err) != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: want exit 1 saying %q, got %v %s", tc.args, tc.want, err, errOut)
		}
	}
}

// TestServeBundleKeySettings: serve reads the bundle key's algorithm and scope from the
// config file, the environment and flags, in that rising order, into its policy config.
func TestServeBundleKeySettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kavach.yaml")
	writeFile(t, file, "bundle: b.tar.gz\nbundleVerificationKey: verify.pem\nbundleAlg: PS384\nbundleScope: prod\n")
	t.Setenv("KAVACH_CONFIG", file)
	t.Setenv("KAVACH_BUNDLE_SCOPE", "staging")
	c, err := parseServe(t, "--bundle-alg", "ES512")
	if err != nil {
		t.Fatal(err)
	}
	pc := c.policyConfig()
	if pc.Bundle != "b.tar.gz" || pc.VerificationKey != "verify.pem" || pc.Alg != "ES512" || pc.Scope != "staging" {
		t.Fatalf("%+v", pc)
	}
}
