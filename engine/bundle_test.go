package engine_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
)

// bundleSource writes a bundle source directory: a deny rule whose reason names the
// revision twice, once from the module and once from the data, so that a decision mixing
// two revisions would show it.
func bundleSource(t testing.TB, revision string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"kavach/custom/rules.rego": fmt.Sprintf(`package kavach.custom
import rego.v1
deny contains {"code": "POLICY_DENIED", "reason": sprintf("%%s/%%s", ["%s", data.kavach.custom.marker])} if input.action == "delete"
`, revision),
		"kavach/custom/rules_test.rego": `package kavach.custom_test
import rego.v1
test_delete_denied if count(data.kavach.custom.deny) == 1 with input as {"action": "delete"}
`,
		"kavach/custom/data.json": fmt.Sprintf(`{"marker": %q}`, revision),
	}
	for name, content := range extra {
		files[name] = content
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if content == "" {
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func buildBundle(t testing.TB, dir, revision string, key *engine.BundleKey) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := engine.BuildBundle(dir, revision, key, &b); err != nil {
		t.Fatalf("build %s: %v", revision, err)
	}
	return b.Bytes()
}

func ecKeys(t testing.TB) (private, public string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
}

// allowAll is an agent allowed everything, so any denial comes from custom rules.
func allowAll(t testing.TB, cfg ...engine.Config) *engine.Engine {
	t.Helper()
	e, err := engine.New(context.Background(), append(cfg, engine.Config{})[0])
	if err != nil {
		t.Fatal(err)
	}
	a := &agent.Agent{ID: "agt_a", TenantID: "t", OwnerID: "o", Status: agent.StatusActive,
		Permissions: []agent.Permission{{ID: "p", Resource: "*", Actions: []string{"*"}}}}
	if err := e.ReplaceAll(context.Background(), []*agent.Agent{a}, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

func del(e *engine.Engine) engine.Result {
	return e.Decide(context.Background(), engine.Request{AgentID: "agt_a", Action: "delete", Resource: "x:y", Now: benchNow})
}

func TestBundleSignaturesAndRoots(t *testing.T) {
	priv, pub := ecKeys(t)
	_, otherPub := ecKeys(t)
	signed := buildBundle(t, bundleSource(t, "r1", nil), "r1", &engine.BundleKey{Key: priv})
	verify := &engine.BundleKey{Key: pub}

	if ps, err := engine.ReadBundle(bytes.NewReader(signed), verify); err != nil || ps.Revision != "r1" || len(ps.Modules) != 2 {
		t.Fatalf("a signed bundle: %+v %v", ps, err)
	}
	if _, err := engine.ReadBundle(bytes.NewReader(signed), &engine.BundleKey{Key: otherPub}); err == nil {
		t.Fatal("a bundle signed with another key must be refused")
	}
	// One byte of a file changed inside the (gzipped) archive: rebuild with the change
	// but keep the original signature.
	tampered := tamper(t, signed)
	if _, err := engine.ReadBundle(bytes.NewReader(tampered), verify); err == nil {
		t.Fatal("a tampered bundle must be refused")
	}
	unsigned := buildBundle(t, bundleSource(t, "r2", nil), "r2", nil)
	if _, err := engine.ReadBundle(bytes.NewReader(unsigned), verify); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("an unsigned bundle with a key configured: %v", err)
	}
	if _, err := engine.ReadBundle(bytes.NewReader(unsigned), nil); err != nil {
		t.Fatalf("an unsigned bundle without a key: %v", err)
	}

	for name, extra := range map[string]map[string]string{
		"data reaching kavach/agents": {"kavach/agents/data.json": `{"agt_evil": {"status": "active"}}`},
		"a module overriding authz":   {"kavach/authz/evil.rego": "package kavach.authz\nimport rego.v1\ndecision := {\"code\": \"ALLOWED\"}\n"},
	} {
		var b bytes.Buffer
		if err := engine.BuildBundle(bundleSource(t, "bad", extra), "bad", nil, &b); err == nil {
			t.Errorf("%s: the builder must refuse it", name)
		}
	}
}

func TestActivationRefusesBrokenRevisions(t *testing.T) {
	e := allowAll(t)
	good, err := engine.ReadBundle(bytes.NewReader(buildBundle(t, bundleSource(t, "A", nil), "A", nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Activate(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	cases := map[string]*engine.PolicySet{
		"compile error":         {Revision: "B", Modules: []engine.Module{{Name: "x.rego", Source: "package kavach.custom\nimport rego.v1\ndeny contains x if { x := undefined_fn(1) }\n"}}},
		"failing test":          {Revision: "C", Modules: []engine.Module{{Name: "t.rego", Source: "package kavach.custom_test\nimport rego.v1\ntest_fails if 1 == 2\n"}}},
		"outside kavach.custom": {Revision: "D", Modules: []engine.Module{{Name: "e.rego", Source: "package kavach.agents\nimport rego.v1\nx := 1\n"}}},
	}
	for name, ps := range cases {
		if err := e.Activate(context.Background(), ps); err == nil {
			t.Errorf("%s: activated", name)
		}
		if r := del(e); r.Revision != "A" || r.Code != api.PolicyDenied || r.Reason != "A/A" {
			t.Fatalf("%s: the previous revision must stay active, got %+v", name, r)
		}
	}
	if st := e.Status(); st.Revision != "A" || st.Rejections != 3 || st.LastError == "" {
		t.Fatalf("status: %+v", st)
	}
}

func TestBundleServerPollingAndETag(t *testing.T) {
	e := allowAll(t)
	srv := &bundleServer{bundles: map[string][]byte{
		"A": buildBundle(t, bundleSource(t, "A", nil), "A", nil),
		"B": buildBundle(t, bundleSource(t, "B", nil), "B", nil),
	}, current: "A"}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	l := engine.NewBundleLoader(e, engine.BundleSource{Location: hs.URL + "/bundle.tar.gz", PollInterval: 20 * time.Millisecond})
	l.Start(context.Background())
	defer l.Stop(context.Background())
	if !l.Loaded() || del(e).Revision != "A" {
		t.Fatalf("revision A after start: %+v", del(e))
	}

	// Unchanged ETag: 304, nothing reloaded.
	waitFor(t, func() bool { return l.NotModified() >= 3 })
	if st := e.Status(); st.Activations != 2 { // the embedded policies, then A
		t.Fatalf("a 304 must not reload: %+v", st)
	}

	srv.serve("B")
	waitFor(t, func() bool { return del(e).Revision == "B" })
	if r := del(e); r.Reason != "B/B" {
		t.Fatalf("decisions follow B: %+v", r)
	}

	// The server goes down: B stays active.
	srv.serve("down")
	before := srv.hits()
	waitFor(t, func() bool { return srv.hits() > before+1 })
	if r := del(e); r.Revision != "B" || !strings.Contains(e.Status().LastError, "503") {
		t.Fatalf("with the server down: %+v %+v", r, e.Status())
	}
}

// TestRevisionSwapsUnderLoad: decisions never see half of a revision. Run with -race.
// Under the race detector, on a busy machine, eight deciders and a compiling revision share
// two cores: the decision deadline is lifted so that a decision kept waiting for a core
// is not taken for an inconsistent one.
func TestRevisionSwapsUnderLoad(t *testing.T) {
	e := allowAll(t, engine.Config{DecisionTimeout: time.Minute})
	sets := make([]*engine.PolicySet, 4)
	for i := range sets {
		rev := fmt.Sprintf("rev%d", i)
		ps, err := engine.ReadBundle(bytes.NewReader(buildBundle(t, bundleSource(t, rev, nil), rev, nil)), nil)
		if err != nil {
			t.Fatal(err)
		}
		sets[i] = ps
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var decided atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := del(e)
				if r.Err != nil {
					t.Errorf("decision failed: %v", r.Err)
					return
				}
				if r.Revision == "" || (r.Code == api.PolicyDenied && r.Reason != r.Revision+"/"+r.Revision) {
					t.Errorf("a decision mixed revisions: revision %q, reason %q", r.Revision, r.Reason)
					return
				}
				decided.Add(1)
			}
		})
	}
	for i := range 100 {
		if err := e.Activate(context.Background(), sets[i%len(sets)]); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if decided.Load() == 0 {
		t.Fatal("no decisions were made during the swaps")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tamper rewrites a bundle archive with one byte of its Rego changed and everything else,
// the signature included, as it was.
func tamper(t *testing.T, bundle []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(bundle))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	changed := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if strings.HasSuffix(h.Name, "rules.rego") {
			body = bytes.Replace(body, []byte(`"delete"`), []byte(`"delett"`), 1)
			changed = true
		}
		h.Size = int64(len(body))
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	zw.Close()
	if !changed {
		t.Fatal("nothing was tampered with")
	}
	return out.Bytes()
}
