package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/api"
)

// repoRoot is the repository's root directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// frozenProd writes a policy directory whose one custom rule denies every call on a
// resource with a prod segment, whatever the time.
func frozenProd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "kavach", "custom"), 0o755)
	writeFile(t, filepath.Join(dir, "kavach", "custom", "freeze.rego"), `package kavach.custom
import rego.v1
deny contains {"code": "POLICY_DENIED", "reason": "prod is frozen"} if "prod" in input.segs
`)
	return dir
}

// allowEverything creates an agent allowed every action on every resource through the CLI
// (with --server and --api-key in front when given) and returns its id.
func allowEverything(t *testing.T, dir string, server ...string) string {
	t.Helper()
	out, errOut, err := kavachCmd(t, dir, append(server, "agent", "create", "--owner", "alice", "--name", "deployer", "-o", "json", "--permission", "*=*")...)
	if err != nil {
		t.Fatalf("agent create: %v %s", err, errOut)
	}
	var a api.AgentWithToken
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// evalCode runs policy eval and returns the code of the answer it prints first.
func evalCode(t *testing.T, dir string, env []string, args ...string) (code, out string) {
	t.Helper()
	out, errOut, err := kavachCmdEnv(t, dir, env, append([]string{"policy", "eval"}, args...)...)
	if err != nil {
		t.Fatalf("policy eval %v: %v\n%s%s", args, err, out, errOut)
	}
	var d struct{ Code string }
	if i := strings.Index(out, "{"); i < 0 || json.NewDecoder(strings.NewReader(out[i:])).Decode(&d) != nil {
		t.Fatalf("policy eval %v printed no decision:\n%s", args, out)
	}
	return d.Code, out
}

// TestPolicyEvalWithTheServersRules: policy eval answers with the custom rules given as a
// policy directory or a signed bundle, or found where serve finds them (KAVACH_POLICY_DIR,
// the --config file), and refuses rules the server would refuse.
func TestPolicyEvalWithTheServersRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	id := allowEverything(t, dir)
	rules := frozenProd(t)
	call := []string{"--agent", id, "--action", "push", "--resource", "mcp:prod:repo"}
	if code, _ := evalCode(t, dir, nil, call...); code != "ALLOWED" {
		t.Fatalf("without custom rules: %s", code)
	}

	priv, pub := rsaKeyFiles(t, dir)
	if _, errOut, err := kavachCmd(t, dir, "bundle", "build", rules, "-o", "b.tar.gz", "--revision", "v7",
		"--signing-key", priv, "--alg", "PS512", "--scope", "prod"); err != nil {
		t.Fatalf("bundle build: %v %s", err, errOut)
	}
	config := filepath.Join(dir, "kavach.yaml")
	writeFile(t, config, "policyDir: "+rules+"\n")
	cases := []struct {
		name string
		env  []string
		args []string
	}{
		{"--policy-dir", nil, []string{"--policy-dir", rules}},
		{"--bundle", nil, []string{"--bundle", "b.tar.gz", "--bundle-verification-key", pub, "--bundle-alg", "PS512", "--bundle-scope", "prod"}},
		{"KAVACH_BUNDLE…", []string{"KAVACH_BUNDLE=b.tar.gz", "KAVACH_BUNDLE_VERIFICATION_KEY=" + pub, "KAVACH_BUNDLE_ALG=PS512", "KAVACH_BUNDLE_SCOPE=prod"}, nil},
		{"KAVACH_POLICY_DIR", []string{"KAVACH_POLICY_DIR=" + rules}, nil},
		{"policyDir in --config", nil, []string{"--config", config}},
	}
	for _, tc := range cases {
		code, out := evalCode(t, dir, tc.env, append(call, tc.args...)...)
		if code != "POLICY_DENIED" || !strings.Contains(out, "prod is frozen") {
			t.Errorf("%s: want the custom denial, got %s\n%s", tc.name, code, out)
		}
	}
	if _, out := evalCode(t, dir, nil, append(call, "--bundle", "b.tar.gz")...); !strings.Contains(out, "# answer of revision v7") {
		t.Errorf("the revision is not shown:\n%s", out)
	}

	// What the server refuses, eval refuses, saying why.
	refusals := []struct {
		name string
		args []string
		want string
	}{
		{"the wrong algorithm", []string{"--bundle", "b.tar.gz", "--bundle-verification-key", pub, "--bundle-scope", "prod"}, "signed with PS512"},
		{"the wrong scope", []string{"--bundle", "b.tar.gz", "--bundle-verification-key", pub, "--bundle-alg", "PS512"}, `requires no scope`},
		{"a failing test", []string{"--policy-dir", failingRules(t)}, "its tests failed"},
		{"a missing bundle", []string{"--bundle", "nowhere.tar.gz"}, "nowhere.tar.gz"},
	}
	for _, tc := range refusals {
		_, errOut, err := kavachCmd(t, dir, append(append([]string{"policy", "eval"}, call...), tc.args...)...)
		if exitCode(err) != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: want exit 1 saying %q, got %v %s", tc.name, tc.want, err, errOut)
		}
	}
}

// TestPolicyEvalNeedsADatabase: eval on a database file that does not exist says so and
// creates nothing.
func TestPolicyEvalNeedsADatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, errOut, err := kavachCmd(t, dir, "policy", "eval", "--agent", "agt_x", "--action", "read", "--resource", "mcp:x")
	if exitCode(err) != 1 || !strings.Contains(errOut, "database sqlite://kavach.db does not exist") || !strings.Contains(errOut, "--server") {
		t.Fatalf("want a refusal naming the missing database: %v %s", err, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("policy eval created %v", entries)
	}
}

// TestPolicyEvalAsksTheServer: with --server, a running kavach serve answers by its active
// revision, as a dry run; no local database is created, and the local evaluation with the
// same rules agrees.
func TestPolicyEvalAsksTheServer(t *testing.T) {
	t.Parallel()
	rules := frozenProd(t)
	served := t.TempDir()
	s := startServe(t, served, nil, "--policy-dir", rules)
	root := bootstrapKey(t, s.log())
	cli := t.TempDir()
	remote := []string{"--server", s.url, "--api-key", root}
	id := allowEverything(t, cli, remote...)
	call := []string{"--agent", id, "--action", "push", "--resource", "mcp:prod:repo"}

	code, out := evalCode(t, cli, nil, append(remote, call...)...)
	if code != "POLICY_DENIED" || !strings.Contains(out, "prod is frozen") || !strings.Contains(out, "# decision of revision sha256-") || !strings.Contains(out, "dry run") {
		t.Fatalf("the server's answer: %s\n%s", code, out)
	}
	// The same rules evaluated locally, on the server's database, answer alike.
	local, out := evalCode(t, cli, nil, append([]string{"--database", "sqlite://" + filepath.Join(served, "kavach.db"), "--policy-dir", rules}, call...)...)
	if local != code || !strings.Contains(out, "prod is frozen") {
		t.Fatalf("locally: %s\n%s", local, out)
	}
	if code, _ := evalCode(t, cli, nil, append(remote, "--agent", id, "--action", "push", "--resource", "mcp:dev:repo")...); code != "ALLOWED" {
		t.Fatalf("a call the rule does not match: %s", code)
	}
	if _, err := os.Stat(filepath.Join(cli, "kavach.db")); !os.IsNotExist(err) {
		t.Fatal("asking a server must not create a local database")
	}
	for _, args := range [][]string{{"--policy-dir", rules}, {"--explain", "notes"}, {"--at", "2026-03-06T10:00:00Z"}} {
		_, errOut, err := kavachCmd(t, cli, append(append(append([]string{"policy", "eval"}, remote...), call...), args...)...)
		if exitCode(err) != 1 || !strings.Contains(errOut, "local") {
			t.Errorf("%v with --server: want a refusal, got %v %s", args, err, errOut)
		}
	}
}

// policy eval names the custom rules that held, in the terminal and in JSON, with the
// trace when --explain asks for it.
func TestPolicyEvalNamesTheRulesThatHeld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	id := allowEverything(t, dir)
	rules := frozenProd(t)
	call := []string{"policy", "eval", "--agent", id, "--action", "push", "--policy-dir", rules}
	out, errOut, err := kavachCmd(t, dir, append(call, "--resource", "mcp:prod:repo")...)
	if err != nil || !strings.Contains(out, "# custom rules that held") ||
		!strings.Contains(out, `kavach/custom/freeze.rego:3: deny contains {"code": "POLICY_DENIED", "reason": "prod is frozen"}`) {
		t.Fatalf("terminal: %v\n%s%s", err, out, errOut)
	}
	out, errOut, err = kavachCmd(t, dir, append(call, "--resource", "mcp:prod:repo", "--explain", "fails", "-o", "json")...)
	var res struct {
		Revision string
		Answer   struct{ Code, Reason string }
		Rules    []string
		Trace    []string
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Answer.Code != "POLICY_DENIED" || res.Answer.Reason != "prod is frozen" ||
		len(res.Rules) != 1 || !strings.HasSuffix(res.Rules[0], "freeze.rego:3: "+`deny contains {"code": "POLICY_DENIED", "reason": "prod is frozen"}`) ||
		len(res.Trace) == 0 || res.Revision == "" {
		t.Fatalf("json: %v\n%s%s", err, out, errOut)
	}
	out, _, err = kavachCmd(t, dir, append(call, "--resource", "mcp:dev:repo", "-o", "json")...)
	res.Rules, res.Trace = nil, nil
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Answer.Code != "ALLOWED" || res.Rules == nil || len(res.Rules) != 0 || res.Trace != nil {
		t.Fatalf("an allowed call: %v\n%s", err, out)
	}
}
