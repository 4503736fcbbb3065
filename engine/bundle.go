package engine

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/keys"

	"github.com/kavachos/kavach-go/policies"
)

// Bundle signing: OPA's own format (.signatures.json, a JWT over the files' hashes).
const (
	// DefaultBundleKeyID names the key when none is given.
	DefaultBundleKeyID = "kavach"
	// MaxBundleBytes bounds a bundle read from anywhere.
	MaxBundleBytes = 32 << 20
)

// customTestRoot holds the tests of custom rules (package kavach.custom_test): a bundle
// may carry them, and they run before its revision is activated.
const customTestRoot = CustomRoot + "_test"

// BundleKey verifies (or signs) bundles: a PEM key (RS*/ES*/PS*, public to verify, private
// to sign) or an HMAC secret (HS256), given inline or as a file path.
type BundleKey struct {
	Key   string
	Alg   string // default: RS256 for a PEM key, HS256 otherwise
	KeyID string // default: DefaultBundleKeyID
}

func (k BundleKey) material() (key, alg, id string, err error) {
	key = k.Key
	if !strings.HasPrefix(strings.TrimSpace(key), "-----BEGIN") {
		if b, rerr := os.ReadFile(key); rerr == nil {
			key = string(b)
		}
	}
	alg = k.Alg
	if alg == "" {
		alg = keyAlg(key)
	}
	id = k.KeyID
	if id == "" {
		id = DefaultBundleKeyID
	}
	if key == "" {
		err = fmt.Errorf("bundle key is empty")
	}
	return key, alg, id, err
}

// keyAlg picks the signature algorithm a key implies: ES256 for an EC key, RS256 for RSA,
// HS256 for a shared secret.
func keyAlg(key string) string {
	block, _ := pem.Decode([]byte(key))
	if block == nil {
		return "HS256"
	}
	var k any
	var err error
	switch {
	case strings.Contains(block.Type, "EC "):
		return "ES256"
	case strings.Contains(block.Type, "RSA "):
		return "RS256"
	case block.Type == "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err == nil {
		switch k.(type) {
		case *ecdsa.PublicKey, *ecdsa.PrivateKey:
			return "ES256"
		}
	}
	return "RS256"
}

// ReadBundle reads a bundle (a .tar.gz stream) into a policy set. With a verification key
// the bundle must be signed with it and unaltered; roots, modules and data must all lie
// under kavach/custom.
func ReadBundle(r io.Reader, verify *BundleKey) (*PolicySet, error) {
	return readBundle(bundle.NewReader(io.LimitReader(r, MaxBundleBytes+1)).WithSizeLimitBytes(MaxBundleBytes), verify, "bundle")
}

// ReadBundleDir reads an unpacked bundle directory (which may hold .manifest and
// .signatures.json).
func ReadBundleDir(dir string, verify *BundleKey) (*PolicySet, error) {
	return readBundle(bundle.NewCustomReader(bundle.NewDirectoryLoader(dir)), verify, dir)
}

func readBundle(rd *bundle.Reader, verify *BundleKey, source string) (*PolicySet, error) {
	if verify != nil {
		key, alg, id, err := verify.material()
		if err != nil {
			return nil, err
		}
		kc, err := keys.NewKeyConfig(key, alg, "")
		if err != nil {
			return nil, fmt.Errorf("bundle verification key: %w", err)
		}
		rd = rd.WithBundleVerificationConfig(bundle.NewVerificationConfig(map[string]*bundle.KeyConfig{id: kc}, id, "", nil))
	} else {
		rd = rd.WithSkipBundleVerification(true)
	}
	b, err := rd.Read()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", source, err)
	}
	if verify != nil && len(b.Signatures.Signatures) == 0 {
		return nil, fmt.Errorf("bundle %s is not signed, and a verification key is configured", source)
	}
	return fromBundle(b, source)
}

// fromBundle checks a bundle's roots, data and packages and turns it into a policy set.
func fromBundle(b bundle.Bundle, source string) (*PolicySet, error) {
	if b.Manifest.Roots == nil || len(*b.Manifest.Roots) == 0 {
		return nil, fmt.Errorf("bundle %s declares no roots: it would own all of data; declare roots under %s", source, CustomRoot)
	}
	for _, root := range *b.Manifest.Roots {
		if root != CustomRoot && root != customTestRoot && !strings.HasPrefix(root, CustomRoot+"/") {
			return nil, fmt.Errorf("bundle %s has root %q outside %s", source, root, CustomRoot)
		}
	}
	ps := &PolicySet{Revision: b.Manifest.Revision, Source: source}
	for key, v := range b.Data {
		custom, ok := v.(map[string]any)
		if key != "kavach" || !ok {
			return nil, fmt.Errorf("bundle %s writes data.%s, outside data.kavach.custom", source, key)
		}
		for sub, doc := range custom {
			if sub != "custom" {
				return nil, fmt.Errorf("bundle %s writes data.kavach.%s, outside data.kavach.custom", source, sub)
			}
			m, ok := doc.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("bundle %s: data.kavach.custom must be an object", source)
			}
			ps.Data = m
		}
	}
	for _, m := range b.Modules {
		ps.Modules = append(ps.Modules, policies.Module{Name: "bundle/" + strings.TrimPrefix(m.Path, "/"), Source: string(m.Raw)})
	}
	sort.Slice(ps.Modules, func(i, j int) bool { return ps.Modules[i].Name < ps.Modules[j].Name })
	if _, err := ps.checkRoots(); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", source, err)
	}
	return ps, nil
}

// BuildBundle packs a source directory — Rego and data files laid out by data path, so
// rules in package kavach.custom sit under kavach/custom/ — into a bundle with roots
// [kavach/custom] and the given revision, signed when a key is given.
func BuildBundle(dir, revision string, sign *BundleKey, w io.Writer) error {
	b, err := bundle.NewCustomReader(bundle.NewDirectoryLoader(dir)).WithSkipBundleVerification(true).Read()
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	roots := []string{CustomRoot, customTestRoot}
	b.Manifest.Roots = &roots
	b.Manifest.Revision = revision
	b.Signatures = bundle.SignaturesConfig{}
	if _, err := fromBundle(b, dir); err != nil {
		return err
	}
	if sign != nil {
		key, alg, id, err := sign.material()
		if err != nil {
			return err
		}
		if err := b.GenerateSignature(bundle.NewSigningConfig(key, alg, ""), id, false); err != nil {
			return fmt.Errorf("sign: %w", err)
		}
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(b); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// LoadPolicyDir reads custom rules and data from a directory laid out like a bundle source.
func LoadPolicyDir(dir string) (*PolicySet, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := bundle.NewCustomReader(bundle.NewDirectoryLoader(abs)).WithSkipBundleVerification(true).Read()
	if err != nil {
		return nil, fmt.Errorf("policy directory %s: %w", dir, err)
	}
	roots := []string{CustomRoot, customTestRoot}
	b.Manifest.Roots = &roots
	ps, err := fromBundle(b, "dir:"+dir)
	if err != nil {
		return nil, err
	}
	ps.Revision = ps.contentRevision()
	return ps, nil
}
