package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// TestServeSaysHowToReplaceALostRootKey: a start on a database that already has API keys
// prints no key, so it says how to make a new root key on the database directly.
func TestServeSaysHowToReplaceALostRootKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startServe(t, dir, nil)
	bootstrapKey(t, first.log())
	first.stop(t)

	second := startServe(t, dir, nil)
	second.stop(t)
	var hint string
	for _, line := range strings.Split(second.log(), "\n") {
		if strings.Contains(line, "api-key create --role root") {
			hint = line
		}
	}
	if hint == "" || !strings.Contains(hint, "sqlite://kavach.db") {
		t.Fatalf("a start with existing keys must say how to replace a lost root key:\n%s", second.log())
	}
	// The command it names works, beside the server or not.
	var entry struct{ Command string }
	if err := json.Unmarshal([]byte(hint), &entry); err != nil || entry.Command == "" {
		t.Fatalf("the hint names no command: %v %s", err, hint)
	}
	args := strings.Fields(entry.Command)
	if args[0] != "kavach" {
		t.Fatalf("the hint's command is not a kavach command: %q", entry.Command)
	}
	out, errOut, err := kavachCmd(t, dir, append(args[1:], "-o", "json")...)
	var k api.APIKeyWithSecret
	if err != nil || json.Unmarshal([]byte(out), &k) != nil || k.Role != string(api.RoleRoot) {
		t.Fatalf("%s: %v %s %s", entry.Command, err, out, errOut)
	}
}

// TestServeOnABusyPortStoresNothing: the listen address is bound before anything else, so a
// server that never ran leaves no database, no key file and no root key behind.
func TestServeOnABusyPortStoresNothing(t *testing.T) {
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		dir := t.TempDir()
		args := []string{"serve", "--listen", busy.Addr().String()}
		if b.Name != "sqlite" {
			args = append(args, "--database", b.New(t), "--audit-signing-key", testserver.AuditKey)
		}
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "KAVACH_DATABASE=", "KAVACH_BOOTSTRAP_ADMIN_KEY=", "KAVACH_CONFIG=")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "address already in use") {
			t.Fatalf("serve on a busy port: %v\n%s", err, out)
		}
		if strings.Contains(string(out), bootstrapLine) {
			t.Fatalf("a server that never ran printed a key:\n%s", out)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("a server that never ran wrote %v", entries)
		}
		if b.Name == "sqlite" {
			return
		}
		list, errOut, err := kavachCmd(t, dir, append(args[3:5], "api-key", "list", "-o", "json")...)
		if err != nil || !strings.Contains(list, `"keys": []`) {
			t.Fatalf("a server that never ran stored a key: %v %s %s", err, list, errOut)
		}
	})
}
