package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// copyTree copies a directory tree.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The example bundle's pipeline publishes an unchanged bundle, stops with 3 when the
// candidate changes recorded decisions until someone has reviewed them, and refuses a
// candidate whose tests fail with 2.
func TestBundlePipeline(t *testing.T) {
	t.Parallel()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	script := func(name string, env ...string) (string, int) {
		cmd := exec.Command("bash", filepath.Join(repo, "bundles/pipeline", name))
		cmd.Dir = repo
		cmd.Env = append(append(os.Environ(), "KAVACH="+binary, "KAVACH_DATABASE=", "REVISION=test"), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		code := exitCode(cmd.Run())
		return out.String(), code
	}
	if out, code := script("sample-ledger.sh", "DUMMY=1"); code == 0 || !strings.Contains(out, "usage") {
		t.Fatalf("sample-ledger.sh without a file: %d %s", code, out)
	}
	ledger := filepath.Join(work, "ledger.ndjson")
	cmd := exec.Command("bash", filepath.Join(repo, "bundles/pipeline/sample-ledger.sh"), ledger)
	cmd.Dir, cmd.Env = work, append(os.Environ(), "KAVACH="+binary, "KAVACH_DATABASE=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sample-ledger.sh: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(work, "hmac.key"), "a-secret-only-this-test-knows")

	run := func(src string, env ...string) (string, int) {
		return script("pipeline.sh", append([]string{"BUNDLE_SRC=" + src, "SIGNING_KEY=" + filepath.Join(work, "hmac.key"),
			"LEDGER=" + ledger, "ACTIVE_SRC=bundles/example", "OUT=" + filepath.Join(work, "out-"+filepath.Base(src), "dist/bundle.tar.gz"),
			"PUBLISH_DIR=" + filepath.Join(work, "out-"+filepath.Base(src), "published")}, env...)...)
	}
	published := func(src string) bool {
		_, err := os.Stat(filepath.Join(work, "out-"+filepath.Base(src), "published", "bundle.tar.gz"))
		return err == nil
	}

	if out, code := run("bundles/example"); code != 0 || !strings.Contains(out, "0 changed") || !published("bundles/example") {
		t.Fatalf("the unchanged bundle: exit %d\n%s", code, out)
	}

	stricter := filepath.Join(work, "stricter")
	copyTree(t, filepath.Join(repo, "bundles/example"), stricter)
	writeFile(t, filepath.Join(stricter, "kavach/custom/readers.rego"), `package kavach.custom

import rego.v1

deny contains {"code": "POLICY_DENIED", "reason": "no reads of customers"} if {
	input.action == "read"
	input.resource == "db:prod:customers"
}
`)
	out, code := run(stricter)
	if code != 3 || published(stricter) || !strings.Contains(out, "review") || !hasRow(out, "ALLOWED", "POLICY_DENIED", "3", "changed") {
		t.Fatalf("a stricter candidate: exit %d\n%s", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(work, "out-stricter/dist/replay.json")); err != nil || !strings.Contains(string(b), `"changed": 3`) {
		t.Fatalf("replay.json: %v %s", err, b)
	}
	if out, code := run(stricter, "REVIEWED=1"); code != 0 || !published(stricter) {
		t.Fatalf("a reviewed candidate: exit %d\n%s", code, out)
	}

	failing := filepath.Join(work, "failing")
	copyTree(t, filepath.Join(repo, "bundles/example"), failing)
	writeFile(t, filepath.Join(failing, "kavach/custom/extra_test.rego"), "package kavach.custom_test\n\nimport rego.v1\n\ntest_wrong if false\n")
	if out, code := run(failing); code != 2 || published(failing) {
		t.Fatalf("a candidate with a failing test: exit %d\n%s", code, out)
	}
}
