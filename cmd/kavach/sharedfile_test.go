package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// TestCLIBesideServeOnOneFile: every change the CLI makes to the SQLite file of a running
// `kavach serve` — create, rotate, update, revoke, delegation and its revocation, API key
// revocation — takes effect in the server, through the file's change log, within a bound.
func TestCLIBesideServeOnOneFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServe(t, dir, nil)
	key := bootstrapKey(t, s.log())
	cli := func(args ...string) string {
		t.Helper()
		out, errOut, err := kavachCmd(t, dir, append(args, "-o", "json")...)
		if err != nil {
			t.Fatalf("kavach %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	decide := func(bearer, path, body string) api.Decision {
		t.Helper()
		var d api.Decision
		if code := call(t, "POST", s.url+path, bearer, body, &d); code != http.StatusOK {
			t.Fatalf("POST %s: %d", path, code)
		}
		return d
	}
	var waits []time.Duration
	until := func(what string, cond func() bool) {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%s: the server never saw the CLI's change", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		waits = append(waits, time.Since(start))
	}
	codeOf := func(id, resource string) func() api.DecisionCode {
		return func() api.DecisionCode {
			return decide(key, "/v1/authorize", `{"agentId":"`+id+`","action":"read","resource":"`+resource+`"}`).Code
		}
	}
	is := func(get func() api.DecisionCode, want api.DecisionCode) func() bool {
		return func() bool { return get() == want }
	}

	var created api.AgentWithToken
	json.Unmarshal([]byte(cli("agent", "create", "--owner", "user_1", "--name", "x", "--permission", "mcp:github:*=read")), &created)
	until("agent create", is(codeOf(created.ID, "mcp:github:repos"), api.Allowed))

	byToken := func(token string) func() api.DecisionCode {
		return func() api.DecisionCode {
			return decide(token, "/v1/authorize/token", `{"action":"read","resource":"mcp:github:repos"}`).Code
		}
	}
	if c := byToken(created.Token)(); c != api.Allowed {
		t.Fatalf("the created agent's token: %s", c)
	}
	var rot api.RotateResult
	json.Unmarshal([]byte(cli("agent", "rotate", created.ID)), &rot)
	until("token rotation", is(byToken(created.Token), api.TokenInvalid))
	if c := byToken(rot.Token)(); c != api.Allowed {
		t.Fatalf("the rotated token: %s", c)
	}

	var child api.AgentWithToken
	json.Unmarshal([]byte(cli("agent", "create", "--owner", "user_1", "--name", "child")), &child)
	var d agent.Delegation
	json.Unmarshal([]byte(cli("delegate", "--from", created.ID, "--to", child.ID, "--permission", "mcp:github:repos=read")), &d)
	until("delegation", is(codeOf(child.ID, "mcp:github:repos"), api.Allowed))
	cli("delegation", "revoke", d.ID)
	until("delegation revoke", is(codeOf(child.ID, "mcp:github:repos"), api.NoPermission))

	cli("agent", "update", created.ID, "--permission", "mcp:slack:*=read")
	until("agent update", is(codeOf(created.ID, "mcp:github:repos"), api.NoPermission))
	if c := codeOf(created.ID, "mcp:slack:general")(); c != api.Allowed {
		t.Fatalf("the updated permission on the server: %s", c)
	}

	cli("agent", "revoke", created.ID)
	until("agent revoke", is(codeOf(created.ID, "mcp:slack:general"), api.AgentRevoked))

	var userKey api.APIKeyWithSecret
	json.Unmarshal([]byte(cli("api-key", "create", "--role", "user", "--tenant", "default", "--owner", "user_1")), &userKey)
	if code := call(t, "GET", s.url+"/v1/agents", userKey.Key, "", nil); code != http.StatusOK {
		t.Fatalf("the CLI's new key on the server: %d", code)
	}
	cli("api-key", "revoke", userKey.ID)
	until("API key revoke", func() bool {
		return call(t, "GET", s.url+"/v1/agents", userKey.Key, "", nil) == http.StatusUnauthorized
	})

	slices.Sort(waits)
	t.Logf("CLI change to server: max %v over %d changes", waits[len(waits)-1], len(waits))
	s.stop(t)
}
