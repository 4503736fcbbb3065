package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/api"
	_ "modernc.org/sqlite"
)

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestAuthorizeAndApprovalsThroughTheCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, errOut, err := kavachCmd(t, dir, "agent", "create", "--owner", "alice", "--name", "deployer", "-o", "json",
		"--permission", "mcp:github:*=read",
		"--permissions-json", `[{"resource":"mcp:github:*","actions":["push"],"constraints":{"approval":{"required":true,"ttl":"1h"}}}]`)
	if err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	var a api.AgentWithToken
	json.Unmarshal([]byte(out), &a)

	_, _, err = kavachCmd(t, dir, "authorize", "--agent", a.ID, "--action", "read", "--resource", "mcp:github:repos")
	if exitCode(err) != 0 {
		t.Fatalf("allowed call: exit %d", exitCode(err))
	}
	out, _, err = kavachCmd(t, dir, "authorize", "--token", a.Token, "--action", "delete", "--resource", "mcp:github:repos", "-o", "json")
	if exitCode(err) != 2 || !strings.Contains(out, `"code": "NO_PERMISSION"`) {
		t.Fatalf("denied call: exit %d, %s", exitCode(err), out)
	}

	out, _, err = kavachCmd(t, dir, "authorize", "--agent", a.ID, "--action", "push", "--resource", "mcp:github:repos", "--arg", "branch=dev", "-o", "json")
	var d api.Decision
	json.Unmarshal([]byte(out), &d)
	if exitCode(err) != 2 || d.Code != api.ApprovalRequired || d.ApprovalID == "" {
		t.Fatalf("gated call: exit %d, %s", exitCode(err), out)
	}
	out, _, _ = kavachCmd(t, dir, "approvals", "list")
	if !strings.Contains(out, d.ApprovalID) || !strings.Contains(out, `{"branch":"dev"}`) {
		t.Fatalf("approvals list does not show the request: %s", out)
	}
	if _, errOut, err := kavachCmd(t, dir, "approvals", "approve", d.ApprovalID, "--reason", "looks fine"); err != nil {
		t.Fatalf("approve: %v %s", err, errOut)
	}
	if _, _, err := kavachCmd(t, dir, "authorize", "--agent", a.ID, "--action", "push", "--resource", "mcp:github:repos", "--arg", "branch=dev"); exitCode(err) != 0 {
		t.Fatalf("approved call: exit %d", exitCode(err))
	}
	if _, _, err := kavachCmd(t, dir, "authorize", "--agent", a.ID, "--action", "push", "--resource", "mcp:github:repos", "--arg", "branch=dev"); exitCode(err) != 2 {
		t.Fatal("an approval allows one call by default")
	}

	out, _, err = kavachCmd(t, dir, "policy", "eval", "--agent", a.ID, "--action", "delete", "--resource", "mcp:github:repos", "--explain", "fails")
	if err != nil || !strings.Contains(out, "Fail") || !strings.Contains(out, `"code": "NO_PERMISSION"`) {
		t.Fatalf("policy eval --explain: %v\n%s", err, out)
	}
	_, errOut, err = kavachCmd(t, dir, "authorize", "--agent", a.ID, "--action", "read", "--resource", "mcp:*")
	if exitCode(err) != 1 || !strings.Contains(errOut, "resource") {
		t.Fatalf("bad input: exit %d, %s", exitCode(err), errOut)
	}
}

func TestPolicyTestCommand(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	out, errOut, err := kavachCmd(t, root, "policy", "test", "tests/rego", "bundles/example")
	if err != nil || !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("kavach policy test: %v\n%s%s", err, out, errOut)
	}
	// A failing test fails the command.
	bad := t.TempDir()
	writeFile(t, filepath.Join(bad, "bad_test.rego"), "package x_test\nimport rego.v1\ntest_broken if { 1 == 2 }\n")
	out, _, err = kavachCmd(t, bad, "policy", "test", ".")
	if exitCode(err) != 1 || !strings.Contains(out, "FAIL: data.x_test.test_broken") {
		t.Fatalf("a failing Rego test must fail the command: exit %d\n%s", exitCode(err), out)
	}
}

func TestDelegationThroughTheCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	agentID := func(args ...string) string {
		out, errOut, err := kavachCmd(t, dir, append([]string{"agent", "create", "--owner", "alice", "-o", "json"}, args...)...)
		if err != nil {
			t.Fatalf("create: %v %s", err, errOut)
		}
		var a api.AgentWithToken
		json.Unmarshal([]byte(out), &a)
		return a.ID
	}
	orch := agentID("--name", "orchestrator", "--permission", "mcp:github:*=read,write")
	worker := agentID("--name", "worker", "--type", "delegated")
	out, errOut, err := kavachCmd(t, dir, "delegate", "--from", orch, "--to", worker, "--permission", "mcp:github:repos=read", "-o", "json")
	if err != nil {
		t.Fatalf("delegate: %v %s", err, errOut)
	}
	var d struct{ ID string }
	json.Unmarshal([]byte(out), &d)
	if _, _, err := kavachCmd(t, dir, "authorize", "--agent", worker, "--action", "read", "--resource", "mcp:github:repos"); exitCode(err) != 0 {
		t.Fatal("the delegated call is denied")
	}
	out, _, _ = kavachCmd(t, dir, "delegation", "list", "--agent", worker, "--direction", "to")
	if !strings.Contains(out, d.ID) || !strings.Contains(out, "1/3") {
		t.Fatalf("delegation list: %s", out)
	}
	if _, errOut, err := kavachCmd(t, dir, "delegation", "revoke", d.ID); err != nil {
		t.Fatalf("revoke: %v %s", err, errOut)
	}
	if _, _, err := kavachCmd(t, dir, "authorize", "--agent", worker, "--action", "read", "--resource", "mcp:github:repos"); exitCode(err) != 2 {
		t.Fatal("the call is still allowed after the delegation was revoked")
	}
	_, errOut, err = kavachCmd(t, dir, "delegate", "--from", orch, "--to", worker, "--permission", "mcp:*=read")
	if exitCode(err) != 1 || !strings.Contains(errOut, "NOT_COVERED") {
		t.Fatalf("an uncovered delegation: exit %d %s", exitCode(err), errOut)
	}
}

func TestAuditThroughTheCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, errOut, err := kavachCmd(t, dir, "agent", "create", "--owner", "alice", "--name", "n", "--permission", "mcp:github:*=read", "-o", "json")
	if err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	var a api.AgentWithToken
	json.Unmarshal([]byte(out), &a)
	for _, res := range []string{"mcp:github:repos", "mcp:slack:x"} {
		kavachCmd(t, dir, "authorize", "--agent", a.ID, "--action", "read", "--resource", res)
	}
	out, _, err = kavachCmd(t, dir, "audit", "query", "--agent", a.ID, "--code", "NO_PERMISSION", "-o", "json")
	if err != nil || !strings.Contains(out, `"resource": "mcp:slack:x"`) || strings.Contains(out, `"resource": "mcp:github:repos"`) {
		t.Fatalf("audit query: %v\n%s", err, out)
	}
	out, _, err = kavachCmd(t, dir, "audit", "export", "--format", "csv", "--agent", a.ID)
	if err != nil || strings.Count(out, "\n") != 4 || !strings.HasPrefix(out, "id,seq,time") {
		t.Fatalf("csv export (header, agent.create, two decisions): %v\n%s", err, out)
	}
	if out, _, err := kavachCmd(t, dir, "audit", "verify"); err != nil || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify: %v %s", err, out)
	}
	// Tamper with the file directly: verify fails and names the event.
	db, err := sql.Open("sqlite", filepath.Join(dir, "kavach.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_events SET result = 'allowed' WHERE code = 'NO_PERMISSION'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, _, err = kavachCmd(t, dir, "audit", "verify")
	if exitCode(err) != 1 || !strings.Contains(out, "BROKEN") || !strings.Contains(out, "altered") {
		t.Fatalf("verify after tampering: exit %d %s", exitCode(err), out)
	}
}

func TestBundleBuildAndInspect(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	example := filepath.Join(filepath.Dir(file), "..", "..", "bundles", "example")
	dir := t.TempDir()
	out := filepath.Join(dir, "bundle.tar.gz")
	secret := "a-long-shared-secret-for-hs256-signing"
	if _, errOut, err := kavachCmd(t, dir, "bundle", "build", example, "-o", out, "--revision", "v7", "--signing-key", secret); err != nil {
		t.Fatalf("build: %v %s", err, errOut)
	}
	stdout, errOut, err := kavachCmd(t, dir, "bundle", "inspect", out, "--verification-key", secret)
	if err != nil || !strings.Contains(stdout, "revision:  v7") || !strings.Contains(stdout, "verified") ||
		!strings.Contains(stdout, "data:      kavach.custom.url_allowlist") {
		t.Fatalf("inspect: %v\n%s%s", err, stdout, errOut)
	}
	if _, _, err := kavachCmd(t, dir, "bundle", "inspect", out, "--verification-key", "another-secret-entirely-different"); exitCode(err) != 1 {
		t.Fatal("a bundle checked with the wrong key must be refused")
	}
}
