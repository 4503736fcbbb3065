package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/api"
)

func TestAgentCanShowsOwnAndDelegatedGrants(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, errOut, err := kavachCmd(t, dir, args...)
		if err != nil {
			t.Fatalf("kavach %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	var parent, child api.AgentWithToken
	json.Unmarshal([]byte(run("agent", "create", "--owner", "u", "--name", "p", "--permission", "mcp:github:*=read",
		"--permission", "mcp:slack:general=write", "-o", "json")), &parent)
	json.Unmarshal([]byte(run("agent", "create", "--owner", "u", "--name", "c", "-o", "json")), &child)
	run("delegate", "--from", parent.ID, "--to", child.ID, "--permission", "mcp:github:repos=read")

	var all api.Capabilities
	if err := json.Unmarshal([]byte(run("agent", "can", child.ID, "-o", "json")), &all); err != nil {
		t.Fatal(err)
	}
	if len(all.Capabilities) != 1 || all.Capabilities[0].Resource != "mcp:github:repos" || len(all.Capabilities[0].Via) != 1 {
		t.Fatalf("the child's delegated grant: %+v", all)
	}
	var writes api.Capabilities
	json.Unmarshal([]byte(run("agent", "can", parent.ID, "--action", "write", "-o", "json")), &writes)
	if len(writes.Capabilities) != 1 || writes.Capabilities[0].Resource != "mcp:slack:general" {
		t.Fatalf("--action write: %+v", writes)
	}
	var github api.Capabilities
	json.Unmarshal([]byte(run("agent", "can", parent.ID, "--resource-type", "mcp:github", "-o", "json")), &github)
	if len(github.Capabilities) != 1 || github.Capabilities[0].Resource != "mcp:github:*" {
		t.Fatalf("--resource-type mcp:github: %+v", github)
	}
	if table := run("agent", "can", child.ID); !strings.Contains(table, "mcp:github:repos") || !strings.Contains(table, "dlg_") {
		t.Fatalf("table output:\n%s", table)
	}
}

func TestCoversResourceTypes(t *testing.T) {
	for _, c := range []struct {
		pattern, typ string
		want         bool
	}{
		{"mcp:github:*", "mcp:github", true},
		{"mcp:*:issues", "mcp:github", true},
		{"mcp:github", "mcp:github", false},
		{"mcp:slack:*", "mcp:github", false},
		{"*", "mcp:github", true},
		{"mcp:*", "mcp:github", true},
		{"mcp:github:repos:*", "mcp:github", true},
	} {
		if got := covers(api.Capability{Resource: c.pattern, Actions: []string{"read"}}, "", c.typ); got != c.want {
			t.Errorf("%s under type %s: %v, want %v", c.pattern, c.typ, got, c.want)
		}
	}
}
