package engine

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/bundle"

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

// ReadBundle reads a bundle (a .tar.gz stream) into a policy set. With a verification key
// the bundle must be signed with it and unaltered; roots, modules and data must all lie
// under kavach/custom.
func ReadBundle(r io.Reader, verify *BundleKey) (*PolicySet, error) {
	return readBundleFrom(r, "", verify)
}

// readBundleFrom is ReadBundle naming the bundle by its source in errors.
func readBundleFrom(r io.Reader, source string, verify *BundleKey) (*PolicySet, error) {
	archive, err := io.ReadAll(io.LimitReader(r, MaxBundleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bundleLabel(source, ""), err)
	}
	if len(archive) > MaxBundleBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", bundleLabel(source, ""), MaxBundleBytes)
	}
	rd := bundle.NewReader(bytes.NewReader(archive)).WithSizeLimitBytes(MaxBundleBytes)
	return readBundle(rd, verify, source, func() []byte { return signaturesIn(archive) })
}

// ReadBundleDir reads an unpacked bundle directory (which may hold .manifest and
// .signatures.json).
func ReadBundleDir(dir string, verify *BundleKey) (*PolicySet, error) {
	signatures := func() []byte {
		b, _ := os.ReadFile(filepath.Join(dir, ".signatures.json"))
		return b
	}
	return readBundle(bundle.NewCustomReader(bundle.NewDirectoryLoader(dir)), verify, dir, signatures)
}

// bundleLabel names a bundle in messages: by its source, and by its revision once known.
func bundleLabel(source, revision string) string {
	label := "bundle"
	if dir, ok := strings.CutPrefix(source, "dir:"); ok {
		label = "policy directory " + dir
	} else if source != "" {
		label += " " + source
	}
	if revision != "" {
		label += " revision " + revision
	}
	return label
}

func readBundle(rd *bundle.Reader, verify *BundleKey, source string, signatures func() []byte) (*PolicySet, error) {
	if verify != nil {
		vc, err := verify.verificationConfig()
		if err != nil {
			return nil, err
		}
		rd = rd.WithBundleVerificationConfig(vc)
	} else {
		rd = rd.WithSkipBundleVerification(true)
	}
	b, err := rd.Read()
	if err != nil {
		if verify != nil && (strings.Contains(err.Error(), "failed to verify") || strings.Contains(err.Error(), "scope mismatch")) {
			err = verify.explainSignature(err, signatures())
		}
		return nil, fmt.Errorf("%s refused: %w", bundleLabel(source, ""), err)
	}
	if verify != nil && len(b.Signatures.Signatures) == 0 {
		return nil, fmt.Errorf("%s is not signed, and a verification key is configured", bundleLabel(source, b.Manifest.Revision))
	}
	return fromBundle(b, source)
}

// signaturesIn returns the .signatures.json of a bundle archive, if it has one.
func signaturesIn(archive []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil
		}
		if strings.TrimPrefix(h.Name, "/") == ".signatures.json" {
			b, _ := io.ReadAll(io.LimitReader(tr, 1<<20))
			return b
		}
	}
}

// fromBundle checks a bundle's roots, data and packages and turns it into a policy set.
func fromBundle(b bundle.Bundle, source string) (*PolicySet, error) {
	label := bundleLabel(source, b.Manifest.Revision)
	if b.Manifest.Roots == nil || len(*b.Manifest.Roots) == 0 {
		return nil, fmt.Errorf("%s declares no roots: it would own all of data; declare roots under %s", label, CustomRoot)
	}
	for _, root := range *b.Manifest.Roots {
		if root != CustomRoot && root != customTestRoot && !strings.HasPrefix(root, CustomRoot+"/") {
			return nil, fmt.Errorf("%s has root %q outside %s (roots may be %s, %s or below %s)", label, root, CustomRoot, CustomRoot, customTestRoot, CustomRoot)
		}
	}
	ps := &PolicySet{Revision: b.Manifest.Revision, Source: cmp.Or(source, "bundle")}
	for key, v := range b.Data {
		custom, ok := v.(map[string]any)
		if key != "kavach" || !ok {
			return nil, fmt.Errorf("%s writes data.%s, outside data.kavach.custom", label, key)
		}
		for sub, doc := range custom {
			if sub != "custom" {
				return nil, fmt.Errorf("%s writes data.kavach.%s, outside data.kavach.custom", label, sub)
			}
			m, ok := doc.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: data.kavach.custom must be an object", label)
			}
			ps.Data = m
		}
	}
	for _, m := range b.Modules {
		ps.Modules = append(ps.Modules, policies.Module{Name: "bundle/" + strings.TrimPrefix(m.Path, "/"), Source: string(m.Raw)})
	}
	sort.Slice(ps.Modules, func(i, j int) bool { return ps.Modules[i].Name < ps.Modules[j].Name })
	if _, err := ps.checkRoots(); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	return ps, nil
}

// BuildBundle packs a source directory — Rego and data files laid out by data path, so
// rules in package kavach.custom sit under kavach/custom/ — into a bundle with roots
// [kavach/custom] and the given revision, signed when a key is given.
func BuildBundle(dir, revision string, sign *BundleKey, w io.Writer) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("bundle source %s is not a directory", dir)
	}
	b, err := bundle.NewCustomReader(bundle.NewDirectoryLoader(dir)).WithSkipBundleVerification(true).Read()
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	// Modules are written (and signed) under their paths in the bundle, as opa build
	// writes them, not under where the source directory was.
	for i := range b.Modules {
		b.Modules[i].URL = b.Modules[i].Path
	}
	roots := []string{CustomRoot, customTestRoot}
	b.Manifest.Roots = &roots
	b.Manifest.Revision = revision
	b.Signatures = bundle.SignaturesConfig{}
	if _, err := fromBundle(b, dir); err != nil {
		return err
	}
	if sign != nil {
		if err := sign.sign(&b); err != nil {
			return err
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
