package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/replay"
)

const (
	replayRuleA = `deny contains {"code": "POLICY_DENIED", "reason": "admin resources are read-only"} if {
	input.action == "delete"
	input.segs[2] == "admin"
}
`
	replayRuleB = `deny contains {"code": "POLICY_DENIED", "reason": "no deletes in prod"} if {
	input.action == "delete"
	input.segs[1] == "prod"
}
`
)

// replayBundles builds bundles a (rule A), b (A and B) and broken (does not compile) in dir.
func replayBundles(t *testing.T, dir string) {
	t.Helper()
	for name, rules := range map[string]string{"a": replayRuleA, "b": replayRuleA + "\n" + replayRuleB, "broken": "deny contains x if { x := no_such_function(1) }\n"} {
		if err := os.MkdirAll(filepath.Join(dir, "src-"+name, "kavach", "custom"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "src-"+name, "kavach", "custom", "rules.rego"), "package kavach.custom\n\nimport rego.v1\n\n"+rules)
		if _, errOut, err := kavachCmd(t, dir, "bundle", "build", "src-"+name, "-o", name+".tar.gz", "--revision", name); err != nil {
			t.Fatalf("bundle build %s: %v\n%s", name, err, errOut)
		}
	}
}

// The CLI replays a database, a replay file and a running server, and its exit status says
// whether anything changed (3), nothing did (0) or the candidate was refused (2).
func TestPolicyReplayCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	replayBundles(t, dir)
	out, errOut, err := kavachCmd(t, dir, "agent", "create", "--owner", "alice", "--name", "ops",
		"--permission", "db:*=read,delete", "-o", "json")
	if err != nil {
		t.Fatalf("agent create: %v\n%s", err, errOut)
	}
	var a api.AgentWithToken
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	for _, call := range [][2]string{{"delete", "db:prod:orders"}, {"delete", "db:prod:users"}, {"read", "db:prod:orders"}, {"delete", "db:dev:admin"}, {"delete", "db:staging:x"}} {
		kavachCmd(t, dir, "authorize", "--agent", a.ID, "--action", call[0], "--resource", call[1]) // denials exit 2
	}

	replayCmd := func(args ...string) (string, string, int) {
		out, errOut, err := kavachCmd(t, dir, append([]string{"policy", "replay"}, args...)...)
		return out, errOut, exitCode(err)
	}
	if out, errOut, code := replayCmd("--bundle", "a.tar.gz", "--active", "a.tar.gz"); code != 0 || !strings.Contains(out, "replayed 5 of 5 recorded decisions: 0 changed") {
		t.Fatalf("A against A: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := replayCmd("--bundle", "b.tar.gz", "--active", "a.tar.gz")
	if code != 3 || !strings.Contains(out, "replayed 5 of 5 recorded decisions: 2 changed") ||
		!hasRow(out, "ALLOWED", "POLICY_DENIED", "2", "changed") ||
		!strings.Contains(out, "kavach/custom/rules.rego:10: deny contains") {
		t.Fatalf("A against B: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := replayCmd("--bundle", "broken.tar.gz", "--active", "a.tar.gz"); code != 2 || !strings.Contains(errOut, "revision broken") || !strings.Contains(errOut, "does not compile") {
		t.Fatalf("a broken candidate: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := replayCmd("--bundle", "nowhere.tar.gz"); code != 2 || !strings.Contains(errOut, "nowhere.tar.gz") {
		t.Fatalf("a missing candidate: exit %d\n%s", code, errOut)
	}

	// Offline: the replay export carries the agents; no database is opened.
	if _, errOut, err := kavachCmd(t, dir, "audit", "export", "--format", "replay", "-f", "ledger.ndjson"); err != nil {
		t.Fatalf("export: %v\n%s", err, errOut)
	}
	offline := t.TempDir()
	for _, f := range []string{"ledger.ndjson", "a.tar.gz", "b.tar.gz"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(offline, f), string(b))
	}
	out, errOut, err = kavachCmd(t, offline, "policy", "replay", "--ledger", "ledger.ndjson", "--bundle", "b.tar.gz", "--active", "a.tar.gz", "-o", "json")
	var rep api.ReplayReport
	if exitCode(err) != 3 || json.Unmarshal([]byte(out), &rep) != nil || rep.Changed != 2 || rep.Replayed != 5 || rep.CandidateRevision != "b" || rep.ActiveRevision != "a" {
		t.Fatalf("offline: %v\n%s%s", err, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(offline, "kavach.db")); !os.IsNotExist(err) {
		t.Fatal("an offline replay created a database")
	}
	// An agent missing from the file (deleted since) is reported, not judged.
	ledger, _ := os.ReadFile(filepath.Join(offline, "ledger.ndjson"))
	var kept []string
	for _, l := range strings.Split(strings.TrimSpace(string(ledger)), "\n") {
		if !strings.HasPrefix(l, `{"agent":`) {
			kept = append(kept, l)
		}
	}
	writeFile(t, filepath.Join(offline, "gone.ndjson"), strings.Join(kept, "\n")+"\n")
	out, _, err = kavachCmd(t, offline, "policy", "replay", "--ledger", "gone.ndjson", "--bundle", "b.tar.gz", "-o", "json")
	rep = api.ReplayReport{}
	if exitCode(err) != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Replayed != 0 || len(rep.Unreplayable) != 1 ||
		rep.Unreplayable[0].Reason != replay.ReasonDeleted || rep.Unreplayable[0].Count != 5 {
		t.Fatalf("deleted agent: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(offline, "plain.ndjson"), `{"id":"x"}`+"\n")
	if _, errOut, err := kavachCmd(t, offline, "policy", "replay", "--ledger", "plain.ndjson", "--bundle", "b.tar.gz"); exitCode(err) != 1 ||
		!strings.Contains(errOut, "--format replay") {
		t.Fatalf("a plain export: %v\n%s", err, errOut)
	}
}

// hasRow reports whether a line of a table holds exactly these cells.
func hasRow(table string, cells ...string) bool {
	for _, l := range strings.Split(table, "\n") {
		if strings.Join(strings.Fields(l), " ") == strings.Join(cells, " ") {
			return true
		}
	}
	return false
}

// Against a running server, the replay runs there, under the server's active revision.
func TestPolicyReplayAgainstAServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	replayBundles(t, dir)
	s := startServe(t, dir, nil, "--bundle", "a.tar.gz")
	root := bootstrapKey(t, s.log())
	as := func(key string, args ...string) (string, string, int) {
		out, errOut, err := kavachCmd(t, dir, append([]string{"--server", s.url, "--api-key", key}, args...)...)
		return out, errOut, exitCode(err)
	}
	out, errOut, code := as(root, "agent", "create", "--owner", "alice", "--name", "ops", "--permission", "db:*=read,delete", "-o", "json")
	var a api.AgentWithToken
	if code != 0 || json.Unmarshal([]byte(out), &a) != nil {
		t.Fatalf("agent create: %d %s", code, errOut)
	}
	for _, r := range []string{"db:prod:orders", "db:dev:admin", "db:dev:x"} {
		as(root, "authorize", "--agent", a.ID, "--action", "delete", "--resource", r)
	}
	out, errOut, code = as(root, "policy", "replay", "--bundle", "b.tar.gz", "-o", "json")
	var rep api.ReplayReport
	if code != 3 || json.Unmarshal([]byte(out), &rep) != nil || rep.Changed != 1 || rep.Replayed != 3 || rep.ActiveRevision != "a" ||
		len(rep.RecordedRevisions) != 1 || rep.RecordedRevisions[0].Revision != "a" {
		t.Fatalf("server replay: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := as(root, "policy", "replay", "--bundle", "broken.tar.gz"); code != 2 || !strings.Contains(errOut, "does not compile") {
		t.Fatalf("a broken candidate on the server: exit %d %s", code, errOut)
	}
	out, _, _ = as(root, "api-key", "create", "--role", "admin", "-o", "json")
	var admin api.APIKeyWithSecret
	if err := json.Unmarshal([]byte(out), &admin); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := as(admin.Key, "policy", "replay", "--bundle", "b.tar.gz"); code != 1 || !strings.Contains(errOut, "needs a root caller") {
		t.Fatalf("a tenant admin replays on the server: exit %d %s", code, errOut)
	}
}

// kavach serve --shadow-bundle evaluates the candidate beside the active bundle: its
// disagreements show in /metrics and in kavach policy status, and answers do not change.
func TestServeWithAShadowBundle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	replayBundles(t, dir)
	s := startServe(t, dir, nil, "--bundle", "a.tar.gz", "--shadow-bundle", "b.tar.gz", "--shadow-sample", "1")
	root := bootstrapKey(t, s.log())
	as := func(args ...string) (string, string, int) {
		out, errOut, err := kavachCmd(t, dir, append([]string{"--server", s.url, "--api-key", root}, args...)...)
		return out, errOut, exitCode(err)
	}
	out, errOut, code := as("agent", "create", "--owner", "alice", "--name", "ops", "--permission", "db:*=read,delete", "-o", "json")
	var a api.AgentWithToken
	if code != 0 || json.Unmarshal([]byte(out), &a) != nil {
		t.Fatalf("agent create: %d %s", code, errOut)
	}
	if _, errOut, code := as("authorize", "--agent", a.ID, "--action", "delete", "--resource", "db:prod:orders"); code != 0 {
		t.Fatalf("the shadow changed the answer: exit %d %s", code, errOut)
	}
	want := `kavach_policy_shadow_disagreements_total{active="ALLOWED",revision="b",shadow="POLICY_DENIED"} 1`
	var metrics string
	for range 200 {
		resp, err := http.Get(s.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if metrics = string(b); strings.Contains(metrics, want) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(metrics, want) || !strings.Contains(metrics, `kavach_policy_shadow_evaluated_total{revision="b"} 1`) {
		t.Fatalf("/metrics lacks the disagreement:\n%s", grepLines(metrics, "shadow"))
	}
	out, errOut, code = as("policy", "status")
	if code != 0 || !strings.Contains(out, "shadow revision: b (sample 1)") || !hasRow(out, "ALLOWED", "POLICY_DENIED", "1") ||
		!strings.Contains(out, "deny contains") {
		t.Fatalf("policy status: exit %d\n%s%s", code, out, errOut)
	}
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
