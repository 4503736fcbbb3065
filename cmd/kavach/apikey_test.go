package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// TestAPIKeyCommandsOnADatabase: working directly on a database the CLI acts as root, which
// is also the way back in when every root key is lost.
func TestAPIKeyCommandsOnADatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, errOut, err := kavachCmd(t, dir, "api-key", "create", "--role", "root", "--name", "recovery", "-o", "json")
	if err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	var k api.APIKeyWithSecret
	if err := json.Unmarshal([]byte(out), &k); err != nil || !agent.WellFormedAPIKey(k.Key) || k.Role != "root" {
		t.Fatalf("create: %v %s", err, out)
	}
	out, _, err = kavachCmd(t, dir, "api-key", "list")
	if err != nil || !strings.Contains(out, k.ID) || strings.Contains(out, k.Key) {
		t.Fatalf("list shows the key but never its secret: %v\n%s", err, out)
	}
	if _, errOut, err := kavachCmd(t, dir, "api-key", "revoke", k.ID); err != nil {
		t.Fatalf("revoke: %v %s", err, errOut)
	}
	out, _, _ = kavachCmd(t, dir, "api-key", "list", "-o", "json")
	if !strings.Contains(out, `"revokedAt"`) {
		t.Fatalf("revocation did not persist: %s", out)
	}
	if _, errOut, err := kavachCmd(t, dir, "api-key", "create", "--role", "user"); err == nil || !strings.Contains(errOut, "ownerId") {
		t.Fatalf("a user key without an owner: %v %s", err, errOut)
	}
}

// TestAPIKeyMint: `kavach api-key mint` prints a fresh key that serve accepts as
// KAVACH_BOOTSTRAP_ADMIN_KEY, without touching a database; serve's refusal of a malformed
// key and the README both say so.
func TestAPIKeyMint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, errOut, err := kavachCmd(t, dir, "api-key", "mint")
	key := strings.TrimSpace(out)
	if err != nil || !agent.WellFormedAPIKey(key) {
		t.Fatalf("mint printed %q (%v) %s", out, err, errOut)
	}
	out, _, err = kavachCmd(t, dir, "api-key", "mint", "-o", "json")
	var minted struct{ Key string }
	if err != nil || json.Unmarshal([]byte(out), &minted) != nil || !agent.WellFormedAPIKey(minted.Key) || minted.Key == key {
		t.Fatalf("mint -o json printed %q (%v)", out, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("mint touched the working directory: %v", entries)
	}

	s := startServe(t, t.TempDir(), []string{"KAVACH_BOOTSTRAP_ADMIN_KEY=" + key})
	roundTrip(t, s.url, key)
	s.stop(t)

	cmd := exec.Command(binary, "serve", "--listen", "127.0.0.1:0")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "KAVACH_DATABASE=", "KAVACH_CONFIG=", "KAVACH_BOOTSTRAP_ADMIN_KEY=kva_my-own-key")
	refused, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(refused), "kavach api-key mint") {
		t.Fatalf("the refusal of a hand-written key must name the way to make one: %v\n%s", err, refused)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil || !strings.Contains(string(readme), "api-key mint") {
		t.Fatalf("the README does not show how to make a bootstrap key: %v", err)
	}
}
