package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// delegate hands from's read right to to.
func delegate(t *testing.T, s *testserver.Server, from, to string) *agent.Delegation {
	t.Helper()
	d, err := s.Kavach.Delegations().Delegate(kavach.WithActor(context.Background(), api.Root), api.DelegateRequest{
		FromAgentID: from, ToAgentID: to,
		Permissions: []agent.Permission{{Resource: "mcp:github:repos", Actions: []string{"read"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestAgentPageRotateAndRevoke: the agent page lists permissions and the delegation tree;
// rotating shows the new token once and it works; revoking stops the agent; another
// user can do neither.
func TestAgentPageRotateAndRevoke(t *testing.T) {
	s := start(t)
	bot, helper, sub := gatedAgent(t, s, "alice", "release-bot"), gatedAgent(t, s, "alice", "ci-helper"), gatedAgent(t, s, "alice", "lint-helper")
	delegate(t, s, bot.ID, helper.ID)
	delegate(t, s, helper.ID, sub.ID)
	alice, bob := loginHTTP(t, s, "alice"), loginHTTP(t, s, "bob")

	_, page := alice.do(http.MethodGet, "/console/agents/"+bot.ID, nil)
	for _, want := range []string{"release-bot", "mcp:github:repos", "human approval", helper.ID, sub.ID, "Rotate token"} {
		if !strings.Contains(page, want) {
			t.Errorf("agent page lacks %q", want)
		}
	}
	// What the sub-helper may do: the grant delegated down the chain, with both links.
	_, subPage := alice.do(http.MethodGet, "/console/agents/"+sub.ID, nil)
	_, can, _ := strings.Cut(subPage, "What it may do")
	can, _, _ = strings.Cut(can, "</table>")
	if !strings.Contains(can, "mcp:github:repos") || !strings.Contains(can, "delegation") || strings.Count(can, "dlg_") < 2 {
		t.Errorf("the sub-helper's page does not show its delegated grant through both links:\n%s", can)
	}
	if resp, _ := bob.do(http.MethodGet, "/console/agents/"+bot.ID, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob reads alice's agent: %d", resp.StatusCode)
	}
	if resp, _ := bob.do(http.MethodPost, "/console/agents/"+bot.ID+"/rotate", url.Values{"csrf": {bob.csrf}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob rotates alice's agent: %d", resp.StatusCode)
	}

	// Rotating answers with a redirect to the agent's page, which shows the token once.
	resp, _ := alice.do(http.MethodPost, "/console/agents/"+bot.ID+"/rotate", url.Values{"csrf": {alice.csrf}, "grace": {"0s"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/agents/"+bot.ID {
		t.Fatalf("rotate: %d to %q, want a redirect to the agent's page", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = alice.do(http.MethodGet, "/console/agents/"+bot.ID, nil)
	m := regexpToken.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the agent's page after rotating shows no token:\n%s", page)
	}
	if _, again := alice.do(http.MethodGet, "/console/agents/"+bot.ID, nil); strings.Contains(again, m[1]) {
		t.Error("the new token is shown again on the next view of the page")
	}
	if d := call(t, s, bot.Token, nil); d.Code != api.TokenInvalid {
		t.Errorf("old token after rotation: %s", d.Code)
	}
	if d := call(t, s, m[1], nil); d.Code != api.ApprovalRequired {
		t.Errorf("new token: %s", d.Code)
	}

	if resp, _ := alice.do(http.MethodPost, "/console/agents/"+bot.ID+"/revoke", url.Values{"csrf": {alice.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if d := call(t, s, m[1], nil); d.Code != api.AgentRevoked {
		t.Errorf("after revoke: %s", d.Code)
	}
	_, page = alice.do(http.MethodGet, "/console/agents", nil)
	if !strings.Contains(page, "revoked") || !strings.Contains(page, helper.ID) {
		t.Errorf("agents list after revoke:\n%s", page)
	}
}

// TestEveryActionNeedsTheCSRFToken: each form the console posts is refused without the
// session's CSRF token, and nothing changes.
func TestEveryActionNeedsTheCSRFToken(t *testing.T) {
	s := start(t)
	bot, helper := gatedAgent(t, s, "alice", "release-bot"), gatedAgent(t, s, "alice", "ci-helper")
	d := delegate(t, s, bot.ID, helper.ID)
	wait := call(t, s, bot.Token, nil)
	alice := loginHTTP(t, s, "alice")
	for _, path := range []string{"/agents/" + bot.ID + "/rotate", "/agents/" + bot.ID + "/revoke", "/delegations/" + d.ID + "/revoke",
		"/approvals/" + wait.ApprovalID + "/approve", "/approvals/" + wait.ApprovalID + "/deny", "/logout"} {
		if resp, _ := alice.do(http.MethodPost, "/console"+path, url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without the CSRF token: %d", path, resp.StatusCode)
		}
	}
	if d := call(t, s, bot.Token, nil); d.Code != api.ApprovalRequired || d.ApprovalID != wait.ApprovalID {
		t.Errorf("after the refused posts the agent's call is %+v", d)
	}
}

// TestConfirmationsAndEventsKeepIsolation: another user's confirmation pages, delegation
// revoke and audit events answer Not found, as the agent pages do.
func TestConfirmationsAndEventsKeepIsolation(t *testing.T) {
	s := start(t)
	bot, helper := gatedAgent(t, s, "alice", "release-bot"), gatedAgent(t, s, "alice", "ci-helper")
	d := delegate(t, s, bot.ID, helper.ID)
	call(t, s, bot.Token, nil)
	ev := lastEvent(t, s)
	bob := loginHTTP(t, s, "bob")
	for _, path := range []string{"/agents/" + bot.ID + "/rotate", "/agents/" + bot.ID + "/revoke", "/delegations/" + d.ID + "/revoke",
		"/audit/events/" + ev.ID + "?seq=" + itoa(ev.Seq)} {
		if resp, _ := bob.do(http.MethodGet, "/console"+path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("bob GET %s: %d", path, resp.StatusCode)
		}
	}
	if resp, _ := bob.do(http.MethodPost, "/console/delegations/"+d.ID+"/revoke", url.Values{"csrf": {bob.csrf}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob revokes alice's delegation: %d", resp.StatusCode)
	}
	if got, _ := s.Kavach.Delegations().Get(kavach.WithActor(context.Background(), api.Root), d.ID); got.Status != agent.DelegationActive {
		t.Errorf("alice's delegation after bob's attempt: %s", got.Status)
	}
}
