package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// TestCLIManagesAServer: with --server and --api-key the management commands go through the
// HTTP API as that key's caller, and isolation holds there too.
func TestCLIManagesAServer(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir(), nil)
	root := bootstrapKey(t, s.log())
	dir := t.TempDir() // the CLI's working directory: no database is touched
	as := func(key string, args ...string) (string, string, error) {
		return kavachCmd(t, dir, append([]string{"--server", s.url, "--api-key", key}, args...)...)
	}
	userKey := func(owner string) string {
		out, errOut, err := as(root, "api-key", "create", "--role", "user", "--owner", owner, "-o", "json")
		if err != nil {
			t.Fatalf("api-key create: %v %s", err, errOut)
		}
		var k api.APIKeyWithSecret
		if err := json.Unmarshal([]byte(out), &k); err != nil || k.OwnerID != owner {
			t.Fatalf("api-key create: %v %s", err, out)
		}
		return k.Key
	}
	alice, bob := userKey("alice"), userKey("bob")

	out, errOut, err := as(alice, "agent", "create", "--owner", "alice", "--name", "bot", "--permission", "mcp:github:*=read", "-o", "json")
	if err != nil {
		t.Fatalf("agent create as alice: %v %s", err, errOut)
	}
	var a api.AgentWithToken
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.OwnerID != "alice" || a.Token == "" {
		t.Fatalf("agent create: %v %s", err, out)
	}
	if out, _, err := as(root, "agent", "list", "--owner", "alice", "-o", "json"); err != nil || !strings.Contains(out, a.ID) {
		t.Fatalf("root lists alice's agents: %v %s", err, out)
	}
	cases := []struct {
		name string
		key  string
		args []string
		want string // in stderr
	}{
		{"bob reads alice's agent", bob, []string{"agent", "get", a.ID}, "not found"},
		{"bob revokes alice's agent", bob, []string{"agent", "revoke", a.ID}, "not found"},
		{"bob creates for alice", bob, []string{"agent", "create", "--owner", "alice", "--name", "x"}, "only for itself"},
		{"a user creates keys", alice, []string{"api-key", "create", "--role", "user", "--owner", "alice"}, "may not create API keys"},
		{"a garbage key", "kva_nope", []string{"tenant", "list"}, "API key is not valid"},
		{"no key", "", []string{"tenant", "list"}, "--server needs an API key"},
	}
	for _, tc := range cases {
		_, errOut, err := as(tc.key, tc.args...)
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: want a failure saying %q, got %v %q", tc.name, tc.want, err, errOut)
		}
	}
	if out, _, err := as(alice, "agent", "get", a.ID, "-o", "json"); err != nil || !strings.Contains(out, `"status": "active"`) {
		t.Fatalf("alice's agent changed: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "kavach.db")); !os.IsNotExist(err) {
		t.Fatal("working against a server must not create a local database")
	}
}

// TestAPIKeyWithoutServerWarns: an API key given without a server is not used; the CLI
// works on the local database as root, and says so in one line on stderr.
func TestAPIKeyWithoutServerWarns(t *testing.T) {
	t.Parallel()
	key := agent.MintAPIKey()
	cases := []struct {
		name, source string
		env, args    []string
	}{
		{"flag", "--api-key", nil, []string{"--api-key", key}},
		{"environment", "KAVACH_API_KEY", []string{"KAVACH_API_KEY=" + key}, nil},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		_, errOut, err := kavachCmdEnv(t, dir, tc.env, append(tc.args, "agent", "list")...)
		if err != nil {
			t.Fatalf("%s: %v %s", tc.name, err, errOut)
		}
		if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.source+" is ignored without --server") ||
			!strings.Contains(errOut, "sqlite://kavach.db as root") {
			t.Errorf("%s: want one line saying the key is ignored and the CLI acts as root on the file, got %q", tc.name, errOut)
		}
	}
	// Without a key, or with a server, nothing is said.
	if _, errOut, err := kavachCmd(t, t.TempDir(), "agent", "list"); err != nil || errOut != "" {
		t.Fatalf("without a key: %v %q", err, errOut)
	}
}
