package engine

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/keys"
)

// BundleAlgs are the signature algorithms a bundle may be signed and verified with: every
// one OPA's bundle package verifies.
var BundleAlgs = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "HS256", "HS384", "HS512",
}

// BundleKey verifies (or signs) bundles: a PEM key (RSA for RS* and PS*, ECDSA for ES*;
// public to verify, private to sign) or an HMAC secret (HS*), given inline or as a file
// path.
type BundleKey struct {
	Key string
	// Alg is one of BundleAlgs. Default: RS256 for an RSA key, ES256, ES384 or ES512 for a
	// P-256, P-384 or P-521 key, HS256 for a secret. PS* and HS384/HS512 must be named.
	Alg   string
	KeyID string // default: DefaultBundleKeyID
	// Scope, when set, is the scope claim a signature carries (signing) or must carry
	// (verifying). A key without a scope accepts only signatures without one.
	Scope string
}

// keyKind is what a key is: "RSA", "EC" with its curve, or "secret".
type keyKind struct{ family, curve string }

func (k keyKind) String() string {
	switch k.family {
	case "EC":
		return "an ECDSA " + k.curve + " key"
	case "RSA":
		return "an RSA key"
	}
	return "a shared secret (not a PEM key)"
}

// defaultAlg is the algorithm a key implies when none is named.
func (k keyKind) defaultAlg() string {
	switch k.family {
	case "RSA":
		return "RS256"
	case "EC":
		switch k.curve {
		case "P-384":
			return "ES384"
		case "P-521":
			return "ES512"
		}
		return "ES256"
	}
	return "HS256"
}

// fits says why alg cannot be used with a key of this kind, if it cannot.
func (k keyKind) fits(alg string) error {
	want := map[byte]string{'R': "RSA", 'P': "RSA", 'E': "EC", 'H': "secret"}[alg[0]]
	if want != k.family {
		return fmt.Errorf("%s needs %s, and this is %s", alg, keyKind{family: want, curve: curveOf(alg)}, k)
	}
	if want == "EC" && curveOf(alg) != k.curve {
		return fmt.Errorf("%s needs an ECDSA %s key, and this is %s (use %s)", alg, curveOf(alg), k, k.defaultAlg())
	}
	return nil
}

func curveOf(alg string) string {
	return map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg]
}

// kindOf tells what a key is from its PEM block; anything that is not PEM is a secret.
func kindOf(key string) (keyKind, error) {
	block, _ := pem.Decode([]byte(key))
	if block == nil {
		return keyKind{family: "secret"}, nil
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(block.Bytes); err == nil {
			k = c.PublicKey
		}
	default:
		return keyKind{}, fmt.Errorf("a PEM %q block is not a key bundles can be signed with", block.Type)
	}
	if err != nil {
		return keyKind{}, fmt.Errorf("PEM %s: %w", block.Type, err)
	}
	switch k := k.(type) {
	case *rsa.PublicKey, *rsa.PrivateKey:
		return keyKind{family: "RSA"}, nil
	case *ecdsa.PublicKey:
		return keyKind{family: "EC", curve: k.Curve.Params().Name}, nil
	case *ecdsa.PrivateKey:
		return keyKind{family: "EC", curve: k.Curve.Params().Name}, nil
	case ed25519.PublicKey, ed25519.PrivateKey:
		return keyKind{}, errors.New("an Ed25519 key cannot sign OPA bundles: use an RSA or ECDSA key, or a secret")
	}
	return keyKind{}, fmt.Errorf("a %T cannot sign OPA bundles", k)
}

// material resolves the key (reading a file path), its algorithm and its id, and refuses
// an algorithm the key cannot be used with.
func (k BundleKey) material() (key, alg, id string, err error) {
	key = k.Key
	if !strings.HasPrefix(strings.TrimSpace(key), "-----BEGIN") {
		if b, rerr := os.ReadFile(key); rerr == nil {
			key = string(b)
		}
	}
	if key == "" {
		return "", "", "", errors.New("bundle key is empty")
	}
	id = k.KeyID
	if id == "" {
		id = DefaultBundleKeyID
	}
	kind, err := kindOf(key)
	if err != nil {
		return "", "", "", fmt.Errorf("bundle key: %w", err)
	}
	alg = strings.ToUpper(k.Alg)
	if alg == "" {
		alg = kind.defaultAlg()
	}
	if !slices.Contains(BundleAlgs, alg) {
		return "", "", "", fmt.Errorf("bundle signature algorithm %q: want one of %s", k.Alg, strings.Join(BundleAlgs, ", "))
	}
	if err := kind.fits(alg); err != nil {
		return "", "", "", fmt.Errorf("bundle key: %w", err)
	}
	return key, alg, id, nil
}

// verificationConfig is OPA's verification of signatures by k.
func (k BundleKey) verificationConfig() (*bundle.VerificationConfig, error) {
	key, alg, id, err := k.material()
	if err != nil {
		return nil, err
	}
	// The key is already read: keys.NewKeyConfig would take it for a file name again, and
	// fail on a PEM block longer than a file name may be.
	kc := &keys.Config{Key: key, Algorithm: alg, Scope: k.Scope}
	return bundle.NewVerificationConfig(map[string]*bundle.KeyConfig{id: kc}, id, k.Scope, nil), nil
}

// sign signs b with k, adding the scope claim when k has one.
func (k BundleKey) sign(b *bundle.Bundle) error {
	key, alg, id, err := k.material()
	if err != nil {
		return err
	}
	claimsPath := ""
	if k.Scope != "" {
		// OPA's signer reads extra claims from a file only.
		dir, err := os.MkdirTemp("", "kavach-claims")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		claims, _ := json.Marshal(map[string]string{"scope": k.Scope, "keyid": id})
		claimsPath = filepath.Join(dir, "claims.json")
		if err := os.WriteFile(claimsPath, claims, 0o600); err != nil {
			return err
		}
	}
	if err := b.GenerateSignature(bundle.NewSigningConfig(key, alg, claimsPath), id, false); err != nil {
		return fmt.Errorf("sign with %s: %w", alg, err)
	}
	return nil
}

// explainSignature turns OPA's refusal of a signature into one that says what differs
// between the signature (read from the bundle's .signatures.json) and the key.
func (k BundleKey) explainSignature(err error, signatures []byte) error {
	_, alg, id, merr := k.material()
	if merr != nil {
		return err
	}
	var sc struct{ Signatures []string }
	if json.Unmarshal(signatures, &sc) != nil || len(sc.Signatures) != 1 {
		return err
	}
	parts := strings.Split(sc.Signatures[0], ".")
	if len(parts) != 3 {
		return err
	}
	var header struct{ Alg, Kid string }
	var claims struct{ Scope string }
	if b, derr := base64.RawURLEncoding.DecodeString(parts[0]); derr == nil {
		_ = json.Unmarshal(b, &header)
	}
	if b, derr := base64.RawURLEncoding.DecodeString(parts[1]); derr == nil {
		_ = json.Unmarshal(b, &claims)
	}
	switch {
	case header.Alg != "" && header.Alg != alg:
		return fmt.Errorf("it is signed with %s, and the verification key is set up for %s (set the algorithm: %s): %w", header.Alg, alg, header.Alg, err)
	case claims.Scope != k.Scope:
		return fmt.Errorf("its signature has %s, and the verification key requires %s: %w", scopeText(claims.Scope), scopeText(k.Scope), err)
	case header.Kid != "" && header.Kid != id:
		return fmt.Errorf("it is signed by key id %q, verified with key id %q, and the signature does not match that key: %w", header.Kid, id, err)
	}
	return fmt.Errorf("its %s signature does not verify with the configured key: %w", alg, err)
}

func scopeText(scope string) string {
	if scope == "" {
		return "no scope"
	}
	return fmt.Sprintf("scope %q", scope)
}
