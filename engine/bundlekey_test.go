package engine_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/engine"
)

func pemOf(t testing.TB, typ string, der []byte, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// keyPair returns a private and a public PEM key for alg (a secret twice for HS*).
func keyPair(t testing.TB, alg string, rsaKey *rsa.PrivateKey) (private, public string) {
	t.Helper()
	switch alg[:2] {
	case "HS":
		return "a shared secret for " + alg, "a shared secret for " + alg
	case "RS", "PS":
		der, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
		return pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), nil), pemOf(t, "PUBLIC KEY", der, err)
	}
	curve := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	private = pemOf(t, "PRIVATE KEY", der, err)
	der, err = x509.MarshalPKIXPublicKey(&k.PublicKey)
	return private, pemOf(t, "PUBLIC KEY", der, err)
}

// TestBundleSigningAlgorithms: a bundle signed with each algorithm OPA verifies, with and
// without a scope, is verified and activated; the default algorithm follows the key.
func TestBundleSigningAlgorithms(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e := allowAll(t)
	for i, alg := range engine.BundleAlgs {
		t.Run(alg, func(t *testing.T) {
			priv, pub := keyPair(t, alg, rsaKey)
			scope := map[bool]string{true: "prod"}[i%2 == 0]
			rev := "r-" + alg
			signed := buildBundle(t, bundleSource(t, rev, nil), rev, &engine.BundleKey{Key: priv, Alg: alg, Scope: scope, KeyID: "k1"})
			ps, err := engine.ReadBundle(bytes.NewReader(signed), &engine.BundleKey{Key: pub, Alg: alg, Scope: scope, KeyID: "k1"})
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if err := e.Activate(t.Context(), ps); err != nil {
				t.Fatalf("activate: %v", err)
			}
			if r := del(e); r.Revision != rev {
				t.Fatalf("decided by %q, want %q", r.Revision, rev)
			}
			// The default algorithm is the key's own: the curve's for ECDSA.
			if strings.HasPrefix(alg, "ES") {
				if _, err := engine.ReadBundle(bytes.NewReader(signed), &engine.BundleKey{Key: pub, Scope: scope, KeyID: "k1"}); err != nil {
					t.Fatalf("verify without naming %s: %v", alg, err)
				}
			}
		})
	}
}

// TestBundleSignatureRefusals: a wrong algorithm, a wrong scope, and a key that cannot be
// used with an algorithm are each refused saying what differs.
func TestBundleSignatureRefusals(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv, rsaPub := keyPair(t, "PS256", rsaKey)
	ec256, _ := keyPair(t, "ES256", nil)
	src := bundleSource(t, "r1", nil)
	ps256 := buildBundle(t, src, "r1", &engine.BundleKey{Key: rsaPriv, Alg: "PS256", Scope: "prod"})

	cases := []struct {
		name   string
		verify engine.BundleKey
		want   []string
	}{
		{"verified as RS256", engine.BundleKey{Key: rsaPub, Scope: "prod"}, []string{"signed with PS256", "set up for RS256"}},
		{"another scope", engine.BundleKey{Key: rsaPub, Alg: "PS256", Scope: "staging"}, []string{`scope "prod"`, `requires scope "staging"`}},
		{"no scope", engine.BundleKey{Key: rsaPub, Alg: "PS256"}, []string{`scope "prod"`, "requires no scope"}},
		{"an unknown algorithm", engine.BundleKey{Key: rsaPub, Alg: "PS257"}, []string{`"PS257"`, "RS256, RS384"}},
		{"an EC algorithm for an RSA key", engine.BundleKey{Key: rsaPub, Alg: "ES256"}, []string{"ES256 needs an ECDSA P-256 key", "an RSA key"}},
		{"HMAC for a PEM key", engine.BundleKey{Key: rsaPub, Alg: "HS384"}, []string{"HS384 needs a shared secret"}},
	}
	for _, tc := range cases {
		_, err := engine.ReadBundle(bytes.NewReader(ps256), &tc.verify)
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: want a refusal saying %q, got %v", tc.name, want, err)
			}
		}
	}
	var b bytes.Buffer
	if err := engine.BuildBundle(src, "r2", &engine.BundleKey{Key: ec256, Alg: "ES384"}, &b); err == nil ||
		!strings.Contains(err.Error(), "ES384 needs an ECDSA P-384 key, and this is an ECDSA P-256 key (use ES256)") {
		t.Errorf("signing with a key of another curve: %v", err)
	}
}
