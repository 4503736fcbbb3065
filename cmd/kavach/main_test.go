package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kavach-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "kavach")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build kavach: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// kavachCmd runs the built binary as a separate process in dir.
func kavachCmd(t *testing.T, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return kavachCmdEnv(t, dir, nil, args...)
}

// kavachCmdEnv is kavachCmd with more environment variables.
func kavachCmdEnv(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "KAVACH_DATABASE=", "KAVACH_API_KEY=", "KAVACH_SERVER="), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func TestAgentPersistsAcrossProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, errOut, err := kavachCmd(t, dir, "agent", "create", "--owner", "user_1", "--name", "reviewer",
		"--permission", "mcp:github:*=read", "-o", "json")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, errOut)
	}
	var created api.AgentWithToken
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create output is not JSON: %v\n%s", err, out)
	}
	if !strings.HasPrefix(created.Token, "kv_") || created.Permissions[0].Resource != "mcp:github:*" {
		t.Fatalf("unexpected agent: %+v", created)
	}
	// The default database is kavach.db in the working directory, and it really is a file.
	st, err := os.Stat(filepath.Join(dir, "kavach.db"))
	if err != nil || st.Size() == 0 {
		t.Fatalf("kavach.db was not written: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("kavach.db has mode %o, want 600", st.Mode().Perm())
	}

	out, errOut, err = kavachCmd(t, dir, "agent", "list", "--owner", "user_1", "-o", "json")
	if err != nil {
		t.Fatalf("list: %v\n%s", err, errOut)
	}
	var list api.AgentList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Agents) != 1 || list.Agents[0].ID != created.ID {
		t.Fatalf("a second process does not see the agent: %s", out)
	}
	if strings.Contains(out, created.Token) {
		t.Fatal("list must never show the token")
	}

	// Rotate and revoke through further processes.
	out, _, err = kavachCmd(t, dir, "agent", "rotate", created.ID, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rot api.RotateResult
	json.Unmarshal([]byte(out), &rot)
	if rot.Token == "" || rot.Token == created.Token {
		t.Fatalf("rotate gave no new token: %s", out)
	}
	if _, _, err := kavachCmd(t, dir, "agent", "revoke", created.ID); err != nil {
		t.Fatal(err)
	}
	out, _, _ = kavachCmd(t, dir, "agent", "get", created.ID, "-o", "json")
	if !strings.Contains(out, `"status": "revoked"`) {
		t.Fatalf("revoke did not persist: %s", out)
	}
}

func TestBadInputFailsNamingTheField(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := map[string][]string{
		"permissions[0].resource": {"--permission", "mcp:git*=read"},
		"type":                    {"--permission", "a=b", "--type", "robot"},
		"permissions[0].constraints.ipAllowlist[0]": {"--permissions-json", `[{"resource":"a","actions":["b"],"constraints":{"ipAllowlist":["nope"]}}]`},
	}
	for field, args := range cases {
		_, errOut, err := kavachCmd(t, dir, append([]string{"agent", "create", "--owner", "o", "--name", "n"}, args...)...)
		if err == nil || !strings.Contains(errOut, field) {
			t.Errorf("%s: want a failure naming the field, got err=%v stderr=%q", field, err, errOut)
		}
	}
	out, _, err := kavachCmd(t, dir, "agent", "list", "-o", "json")
	if err != nil || !strings.Contains(out, `"agents": []`) {
		t.Fatalf("rejected input wrote agents: %s %v", out, err)
	}
}

func TestPostgresDatabase(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	dir := t.TempDir()
	if _, errOut, err := kavachCmd(t, dir, "--database", url, "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, errOut)
	}
	if _, errOut, err := kavachCmd(t, dir, "--database", url, "tenant", "create", "acme"); err != nil {
		t.Fatalf("tenant create: %v %s", err, errOut)
	}
	if _, errOut, err := kavachCmd(t, dir, "--database", url, "agent", "create", "--tenant", "acme", "--owner", "o", "--name", "n", "--permission", "x:*=read"); err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	out, _, err := kavachCmd(t, dir, "--database", url, "agent", "list", "--tenant", "acme", "-o", "json")
	if err != nil || !strings.Contains(out, `"tenantId": "acme"`) {
		t.Fatalf("list: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "kavach.db")); !os.IsNotExist(err) {
		t.Fatal("with --database postgres no SQLite file may be created")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
