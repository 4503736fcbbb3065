package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/kavachos/kavach-go/policies"
)

// documentedRegoCommands are the command lines of the docs that export or test Rego:
// `kavach policy export`, `kavach policy test` and `opa test`, in the order written.
func documentedRegoCommands(t *testing.T, root string) [][]string {
	t.Helper()
	re := regexp.MustCompile("(?:go run \\./cmd/kavach|kavach) policy (?:test|export)[^`\\n#]*|opa test [^`\\n#]*")
	var cmds [][]string
	for _, doc := range []string{"README.md", "docs/policies.md", "docs/decisions.md", "bundles/example/README.md"} {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range re.FindAllString(string(b), -1) {
			args := strings.Fields(strings.TrimSpace(strings.TrimPrefix(line, "go run ./cmd/")))
			if slices.ContainsFunc(args, func(a string) bool { return strings.ContainsAny(a, "[]…|") }) {
				continue // a synopsis, not a command line
			}
			cmds = append(cmds, args)
		}
	}
	return cmds
}

// TestDocumentedRegoCommands runs every documented command line that exports or tests
// Rego, exactly as written, from a copy of the repository's layout: kavach's through the
// CLI, opa test through OPA's tester, as the opa binary runs it. Every test must pass.
func TestDocumentedRegoCommands(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	work := t.TempDir()
	for _, dir := range []string{"policies", "tests", "bundles"} {
		if err := os.Symlink(filepath.Join(root, dir), filepath.Join(work, dir)); err != nil {
			t.Fatal(err)
		}
	}
	cmds := documentedRegoCommands(t, root)
	slices.SortStableFunc(cmds, func(a, b []string) int { // exports before the tests that read them
		return map[bool]int{true: 0, false: 1}[a[2] == "export"] - map[bool]int{true: 0, false: 1}[b[2] == "export"]
	})
	ran := map[string]bool{}
	for _, args := range cmds {
		line := strings.Join(args, " ")
		ran[line] = true
		if args[0] == "opa" {
			if n := opaTest(t, work, args[2:]); n == 0 {
				t.Errorf("%s: no tests ran", line)
			}
			continue
		}
		out, errOut, err := kavachCmd(t, work, args[1:]...)
		if err != nil || (args[2] == "test" && !strings.Contains(out, " passed, 0 failed")) {
			t.Errorf("%s: %v\n%s%s", line, err, out, errOut)
		}
	}
	for _, want := range []string{"opa test policies tests/rego", "kavach policy test", "kavach policy export kavach-policies", "opa test kavach-policies bundles/example"} {
		if !ran[want] {
			t.Errorf("%q is no longer documented (documented: %v)", want, cmds)
		}
	}
}

// opaTest runs `opa test PATHS…` in dir with OPA's tester and returns how many tests ran;
// a failing test fails t.
func opaTest(t *testing.T, dir string, paths []string) int {
	t.Helper()
	abs := make([]string, len(paths))
	for i, p := range paths {
		abs[i] = p
		if !filepath.IsAbs(p) {
			abs[i] = filepath.Join(dir, p)
		}
	}
	modules, store, err := tester.Load(abs, nil)
	if err != nil {
		t.Fatalf("opa test %v: %v", paths, err)
	}
	ch, err := tester.NewRunner().SetStore(store).SetModules(modules).RunTests(context.Background(), nil)
	if err != nil {
		t.Fatalf("opa test %v: %v", paths, err)
	}
	n := 0
	for r := range ch {
		n++
		if !r.Pass() {
			t.Errorf("opa test %v: %s.%s failed: %v", paths, r.Package, r.Name, r.Error)
		}
	}
	return n
}

// TestPolicyExportForOpaTest: the exported policies are this build's embedded modules, and
// stock opa test runs a custom rule's tests against them — tests that call the decision.
func TestPolicyExportForOpaTest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, errOut, err := kavachCmd(t, dir, "policy", "export", "exported"); err != nil || !strings.Contains(errOut, "embedded policies embedded-") {
		t.Fatalf("policy export: %v\n%s%s", err, out, errOut)
	}
	mods, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		b, err := os.ReadFile(filepath.Join(dir, "exported", filepath.Base(m.Name)))
		if err != nil || string(b) != m.Source {
			t.Fatalf("%s is not exported as embedded: %v", m.Name, err)
		}
	}
	rules := rulesDir(t, map[string]string{
		"kavach/custom/freeze.rego": `package kavach.custom
import rego.v1
deny contains {"code": "POLICY_DENIED", "reason": "prod is frozen"} if "prod" in input.segs
`,
		"kavach/custom/freeze_test.rego": `package kavach.custom_test
import rego.v1
agents := {"a": {"tenant": "t", "owner": "o", "status": "active", "expires_ns": 0}}
grants := {"a": {"*": [{"id": "g", "re": "^.+$", "ip": [], "windows": [], "args": [], "approval": null, "rate": [], "via": [], "expires_ns": 0}]}}
call(resource) := {"agent_id": "a", "action": "push", "resource": resource, "segs": split(resource, ":"),
	"n": count(split(resource, ":")), "arguments": {}, "now_ns": 0}
test_prod_is_denied if {
	d := data.kavach.authz.decision with data.kavach.agents as agents with data.kavach.grants as grants with input as call("mcp:prod:repo")
	d.code == "POLICY_DENIED"
}
test_dev_is_allowed if {
	d := data.kavach.authz.decision with data.kavach.agents as agents with data.kavach.grants as grants with input as call("mcp:dev:repo")
	d.code == "ALLOWED"
}
`,
	})
	if n := opaTest(t, dir, []string{"exported", rules}); n != 2 {
		t.Fatalf("%d tests ran, want 2", n)
	}
}
