package main

import (
	"encoding/json"
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
