package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// TestDurationsCountDays: --expires-in and --grace take days as well as Go durations.
func TestDurationsCountDays(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	create := func(args ...string) api.AgentWithToken {
		t.Helper()
		out, errOut, err := kavachCmd(t, dir, append([]string{"agent", "create", "--owner", "o", "--name", "n",
			"--permission", "mcp:github:*=read", "-o", "json"}, args...)...)
		var a api.AgentWithToken
		if err != nil || json.Unmarshal([]byte(out), &a) != nil {
			t.Fatalf("create %v: %v %s", args, err, errOut)
		}
		return a
	}
	near := func(what string, got *time.Time, want time.Duration) {
		t.Helper()
		if got == nil || time.Until(*got) < want-time.Minute || time.Until(*got) > want {
			t.Errorf("%s: expires %v, want about %v from now", what, got, want)
		}
	}
	a := create("--expires-in", "1d")
	near("--expires-in 1d", a.ExpiresAt, 24*time.Hour)
	near("--expires-in 1d12h", create("--expires-in", "1d12h").ExpiresAt, 36*time.Hour)

	out, errOut, err := kavachCmd(t, dir, "agent", "update", a.ID, "--expires-in", "7d", "-o", "json")
	var updated agent.Agent
	if err != nil || json.Unmarshal([]byte(out), &updated) != nil {
		t.Fatalf("update: %v %s", err, errOut)
	}
	near("update --expires-in 7d", updated.ExpiresAt, 7*24*time.Hour)

	b := create()
	out, errOut, err = kavachCmd(t, dir, "delegate", "--from", a.ID, "--to", b.ID, "--permission", "mcp:github:repos=read",
		"--expires-in", "2d", "-o", "json")
	var d agent.Delegation
	if err != nil || json.Unmarshal([]byte(out), &d) != nil {
		t.Fatalf("delegate: %v %s", err, errOut)
	}
	near("delegate --expires-in 2d", d.ExpiresAt, 48*time.Hour)

	if _, errOut, err := kavachCmd(t, dir, "agent", "rotate", a.ID, "--grace", "1d"); err != nil {
		t.Fatalf("rotate --grace 1d: %v %s", err, errOut)
	}
	if _, errOut, err := kavachCmd(t, dir, "agent", "create", "--owner", "o", "--name", "n", "--expires-in", "1w"); err == nil ||
		!strings.Contains(errOut, "7d") {
		t.Fatalf("an unknown unit must be refused with an example: %v %s", err, errOut)
	}
	help, _, _ := kavachCmd(t, dir, "agent", "create", "--help")
	if !strings.Contains(help, "7d") {
		t.Fatalf("--expires-in's help does not mention days:\n%s", help)
	}
}

// TestSwappedPermissionSuggestsTheFix: ACTION=RESOURCE is refused with the corrected form.
func TestSwappedPermissionSuggestsTheFix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := map[string]string{
		"read=mcp:github:*":           "'mcp:github:*=read'",
		"read,write=mcp:github:repos": "'mcp:github:repos=read,write'",
		"call=mcp:slack:chat.post*":   "'mcp:slack:chat.post*=call'",
	}
	for swapped, fix := range cases {
		for _, args := range [][]string{
			{"agent", "create", "--owner", "o", "--name", "n", "--permission", swapped},
			{"delegate", "--from", "agt_a", "--to", "agt_b", "--permission", swapped},
		} {
			_, errOut, err := kavachCmd(t, dir, args...)
			if err == nil || !strings.Contains(errOut, "did you mean --permission "+fix) {
				t.Errorf("%s %s: want a did-you-mean naming %s, got %v %q", args[0], swapped, fix, err, errOut)
			}
		}
	}
	out, _, err := kavachCmd(t, dir, "agent", "list", "-o", "json")
	if err != nil || !strings.Contains(out, `"agents": []`) {
		t.Fatalf("a refused permission created an agent: %v %s", err, out)
	}
}

// TestTokenPrintedOnceWhole: create and rotate print the token on one line, whole, and
// no truncated copy of it.
func TestTokenPrintedOnceWhole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := func(out string) string {
		t.Helper()
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "kv_") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 {
			t.Fatalf("want the token on one line, got %d:\n%s", len(lines), out)
		}
		f := strings.Fields(lines[0])
		if len(f) != 2 || f[0] != "token:" || !agent.WellFormedToken(f[1]) {
			t.Fatalf("the token line is %q", lines[0])
		}
		return f[1]
	}
	authorize := func(tok string) {
		t.Helper()
		if _, errOut, err := kavachCmd(t, dir, "authorize", "--token", tok, "--action", "read", "--resource", "mcp:github:repos"); err != nil {
			t.Fatalf("the printed token is not the agent's: %v %s", err, errOut)
		}
	}
	out, errOut, err := kavachCmd(t, dir, "agent", "create", "--owner", "o", "--name", "n", "--permission", "mcp:github:*=read")
	if err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	authorize(token(out))
	id := strings.Fields(strings.SplitN(out, "\n", 2)[0])[1]
	if out, errOut, err = kavachCmd(t, dir, "agent", "rotate", id); err != nil {
		t.Fatalf("rotate: %v %s", err, errOut)
	}
	authorize(token(out))
	if out, _, _ = kavachCmd(t, dir, "agent", "get", id); !strings.Contains(out, "token:") || strings.Count(out, "kv_") != 1 {
		t.Fatalf("get shows the token's prefix once:\n%s", out)
	}
}
