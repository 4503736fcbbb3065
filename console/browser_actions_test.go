package console_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// events counts the ledger's events of one management action on an agent.
func events(t *testing.T, s *testserver.Server, agentID, action string) int {
	t.Helper()
	p, err := s.Kavach.Audit().Query(kavach.WithActor(context.Background(), api.Root), api.AuditQuery{AgentID: agentID, Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return len(p.Events)
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	return get(t, ctx, chromedp.Location())
}

// TestBrowserRotateRedirectsAndKeepsTheOldTokenAWhile (issue 1): rotating asks first,
// naming the agent and offering a grace period (1h by default); the answer is a redirect
// to the agent's page, which shows the new token once with a copy button and says until
// when the old one works. Reloading that page rotates nothing and shows the token no more.
func TestBrowserRotateRedirectsAndKeepsTheOldTokenAWhile(t *testing.T) {
	s := start(t)
	bot := gatedAgent(t, s, "alice", "release-bot")
	ctx := browser(t)
	login(t, ctx, s, "alice")
	run(t, ctx, chromedp.Navigate(s.URL+"/console/agents/"+bot.ID), chromedp.Click(css(`a[href$="/rotate"]`)), chromedp.WaitVisible(css("#grace")))
	confirm := get(t, ctx, chromedp.Text(css("main")))
	if !strings.Contains(confirm, "release-bot") || !strings.Contains(confirm, bot.ID) {
		t.Errorf("the rotate confirmation does not name the agent:\n%s", confirm)
	}
	if g := get(t, ctx, chromedp.Value(css("#grace"))); g != "1h" {
		t.Errorf("default grace period %q, want 1h", g)
	}
	run(t, ctx, chromedp.Click(css(`main form button[type="submit"]`)), chromedp.WaitVisible(css("#new-token")))
	if loc := location(t, ctx); loc != s.URL+"/console/agents/"+bot.ID {
		t.Errorf("after rotating the browser is at %s, want the agent's page (post/redirect/get)", loc)
	}
	token := get(t, ctx, chromedp.Value(css("#new-token")))
	card := get(t, ctx, chromedp.Text(css("#token-card")))
	if !strings.Contains(card, "keeps working until") {
		t.Errorf("the token card does not say until when the old token works:\n%s", card)
	}
	run(t, ctx, chromedp.Click(css(`button[data-copy="new-token"]`)))
	get(t, ctx, chromedp.Poll[bool](`document.getElementById("copied").textContent !== ""`))
	if said := get(t, ctx, chromedp.Text(css("#copied"))); said == "" {
		t.Error("the copy button says nothing")
	}

	run(t, ctx, chromedp.Reload(), chromedp.WaitVisible(css("main h1")))
	if html := get(t, ctx, chromedp.OuterHTML(css("main"))); strings.Contains(html, token) {
		t.Error("a reload shows the new token again")
	}
	if n := events(t, s, bot.ID, "agent.rotate"); n != 1 {
		t.Errorf("%d agent.rotate events after rotate and reload, want 1", n)
	}
	if d := call(t, s, bot.Token, nil); d.Code != api.ApprovalRequired {
		t.Errorf("old token within the grace period: %s", d.Code)
	}
	if d := call(t, s, token, nil); d.Code != api.ApprovalRequired {
		t.Errorf("new token: %s", d.Code)
	}
}

// TestBrowserDenySaysWhatTheAgentGets (issue 2): the confirmation names the request and
// says the denial holds until the request would have expired; the agent's next identical
// call is APPROVAL_DENIED with the reason the person typed.
func TestBrowserDenySaysWhatTheAgentGets(t *testing.T) {
	s, bot, ctx, d := waiting(t, map[string]any{"branch": "dev"})
	flash := decide(t, ctx, d.ApprovalID, "deny", map[string]string{"reason": "not on dev today"})
	lacks(t, "deny confirmation", flash, d.ApprovalID, "release-bot", "APPROVAL_DENIED", "Until", "asks again")
	if strings.Contains(flash, "identical calls get APPROVAL_DENIED.") {
		t.Errorf("deny confirmation still promises a denial without end: %s", flash)
	}
	got := call(t, s, bot.Token, map[string]any{"branch": "dev"})
	if got.Code != api.ApprovalDenied || !strings.Contains(got.Reason, "not on dev today") {
		t.Fatalf("retry after denial: %+v, want APPROVAL_DENIED with the typed reason", got)
	}
}

// TestBrowserDecidedHistory (issue 5): approving names the request and the uses granted,
// and the decided request appears in the history with who, when, uses left and expiry.
func TestBrowserDecidedHistory(t *testing.T) {
	s, bot, ctx, d := waiting(t, map[string]any{"branch": "main"})
	flash := decide(t, ctx, d.ApprovalID, "approve", map[string]string{"uses": "2", "ttl": "30m"})
	lacks(t, "approve confirmation", flash, d.ApprovalID, "release-bot", "next 2 identical calls")
	row := get(t, ctx, chromedp.Text(css(`tr[id="decided-`+d.ApprovalID+`"]`)))
	lacks(t, "decided row", row, "approved", "user:alice", "2", "release-bot", "UTC")
	call(t, s, bot.Token, map[string]any{"branch": "main"})
	run(t, ctx, chromedp.Reload(), chromedp.WaitVisible(css(`tr[id="decided-`+d.ApprovalID+`"]`)))
	if uses := get(t, ctx, chromedp.Text(css(`tr[id="decided-`+d.ApprovalID+`"] td[data-label="Uses left"]`))); uses != "1" {
		t.Errorf("uses left after one use: %q, want 1", uses)
	}
}

// TestBrowserFormsKeepWhatIsTyped (issue 6): live refresh adds a new request without
// losing a half-typed reason in another card, even after that field lost focus; a bad
// duration is an error beside the "Valid for" field on the same form, which keeps what
// was typed; deciding a request that was decided meanwhile says so in words.
func TestBrowserFormsKeepWhatIsTyped(t *testing.T) {
	s, bot, ctx, first := waiting(t, map[string]any{"branch": "one"})
	reason := css(`input[id="reason-` + first.ApprovalID + `"]`)
	run(t, ctx,
		chromedp.WaitVisible(approvalCard(first.ApprovalID)),
		chromedp.SendKeys(reason, "half a thou"),
		chromedp.Click(css("main h1")), // the field loses focus
	)
	second := call(t, s, bot.Token, map[string]any{"branch": "two"})
	run(t, ctx, chromedp.WaitVisible(approvalCard(second.ApprovalID)))
	if v := get(t, ctx, chromedp.Value(reason)); v != "half a thou" {
		t.Errorf("after live refresh the typed reason is %q", v)
	}

	ttl := css(`input[id="ttl-` + second.ApprovalID + `"]`)
	run(t, ctx,
		chromedp.SetValue(css(`input[id="uses-`+second.ApprovalID+`"]`), "3"),
		chromedp.SendKeys(ttl, "ten minutes"),
		chromedp.Click(css(string(approvalCard(second.ApprovalID))+" button.approve")),
		chromedp.WaitVisible(css(`[id="ttl-err-`+second.ApprovalID+`"]`)),
	)
	msg := get(t, ctx, chromedp.Text(css(`[id="ttl-err-`+second.ApprovalID+`"]`)))
	if !strings.Contains(msg, "Valid for") || strings.Contains(msg, "ttl") {
		t.Errorf("the duration error is %q: want the field's label, not its name", msg)
	}
	if v := get(t, ctx, chromedp.Value(ttl)); v != "ten minutes" {
		t.Errorf("the form lost the typed duration: %q", v)
	}
	if v := get(t, ctx, chromedp.Value(css(`input[id="uses-`+second.ApprovalID+`"]`))); v != "3" {
		t.Errorf("the form lost the typed uses: %q", v)
	}
	if a := approval(t, s, second.ApprovalID); a.Status != agent.ApprovalPending {
		t.Errorf("a refused form decided the request: %s", a.Status)
	}

	// Someone else approves while the card is open (and being typed in).
	run(t, ctx, chromedp.Navigate(s.URL+"/console/approvals"), chromedp.WaitVisible(approvalCard(second.ApprovalID)),
		chromedp.SendKeys(css(`input[id="reason-`+second.ApprovalID+`"]`), "x"))
	approveAs(t, s, "alice", second.ApprovalID, 1)
	run(t, ctx, chromedp.Click(css(string(approvalCard(second.ApprovalID))+" button.approve")), chromedp.WaitVisible(css(".flash")))
	flash := get(t, ctx, chromedp.Text(css(".flash")))
	if !strings.Contains(flash, "already approved by user:alice") || !strings.Contains(flash, second.ApprovalID) {
		t.Errorf("deciding a decided request: %q", flash)
	}
}

// TestBrowserDeepLinkSurvivesLogin (issue 7): a link into the console followed without
// a session lands on the page it names once the person has logged in.
func TestBrowserDeepLinkSurvivesLogin(t *testing.T) {
	s := start(t)
	ctx := browser(t)
	want := s.URL + "/console/audit?code=NO_PERMISSION"
	run(t, ctx,
		chromedp.Navigate(want),
		chromedp.WaitVisible(css("#username")),
		chromedp.SendKeys(css("#username"), admin),
		chromedp.Click(css(`main form button[type="submit"]`)),
		chromedp.WaitVisible(css("#f-code")),
	)
	if loc := location(t, ctx); loc != want {
		t.Errorf("after login the browser is at %s, want %s", loc, want)
	}
	if code := get(t, ctx, chromedp.Value(css("#f-code"))); code != "NO_PERMISSION" {
		t.Errorf("code filter %q after login", code)
	}
	// Only console pages of this site are kept.
	for _, next := range []string{"https://evil.example/", "//evil.example/console/", "/v1/agents", "/console/../v1/agents", "/console/login"} {
		run(t, ctx, chromedp.Navigate(s.URL+"/console/login?next="+url.QueryEscape(next)), chromedp.WaitVisible(css("main h1")))
		if loc := location(t, ctx); loc != s.URL+"/console/approvals" {
			t.Errorf("login with next=%s lands at %s", next, loc)
		}
	}
}

// TestBrowserApprovalCardsGiveContext (issue 8): a card says when the call was made, from
// which address and user agent, and, for a call through a delegation, that the gate is on
// the delegating agent's permission; each card's landmarks have names of their own.
func TestBrowserApprovalCardsGiveContext(t *testing.T) {
	s := start(t)
	bot, helper, _ := delegatedOnly(t, s, "write")
	own := call(t, s, bot.Token, map[string]any{"branch": "main"})
	same := call(t, s, bot.Token, map[string]any{"branch": "dev"})
	through := call(t, s, helper.Token, map[string]any{"branch": "main"})
	if through.Code != api.ApprovalRequired {
		t.Fatalf("delegated call: %+v", through)
	}
	b := browser(t)
	login(t, b, s, "alice")
	run(t, b, chromedp.WaitVisible(approvalCard(through.ApprovalID)))
	card := get(t, b, chromedp.Text(approvalCard(own.ApprovalID)))
	lacks(t, "card", card, "Requested", "127.0.0.1", "Go-http-client", "UTC")
	if strings.Contains(card, "delegat") {
		t.Errorf("a call on the agent's own permission mentions a delegation:\n%s", card)
	}
	card = get(t, b, chromedp.Text(approvalCard(through.ApprovalID)))
	if !strings.Contains(card, "gate is on a permission of release-bot") || !strings.Contains(card, "dlg_") {
		t.Errorf("the delegated call's card does not name the delegating agent:\n%s", card)
	}
	if h1, h2 := get(t, b, chromedp.Text(css(`[id="h-`+own.ApprovalID+`"]`))), get(t, b, chromedp.Text(css(`[id="h-`+same.ApprovalID+`"]`))); h1 == h2 {
		t.Errorf("two cards share the heading %q", h1)
	}
	checkAxe(t, b, "approvals")
}

// TestBrowserAgentPagesAndDelegations (issue 10): revoking asks first, naming the agent;
// a revoked agent's page says when and by whom; the delegation tree lists each permission,
// the delegation id and "no expiry", and revokes a delegation; a delegated agent's page
// shows the rights it holds through delegations rather than "No permissions".
func TestBrowserAgentPagesAndDelegations(t *testing.T) {
	s := start(t)
	bot, helper, dl := delegatedOnly(t, s, "read", "write")
	ctx := kavach.WithActor(context.Background(), api.Root)
	b := browser(t)
	login(t, b, s, "alice")

	run(t, b, chromedp.Navigate(s.URL+"/console/agents/"+helper.ID), chromedp.WaitVisible(css("#can")))
	can := get(t, b, chromedp.Text(css("#can")))
	if !strings.Contains(can, "read") || !strings.Contains(can, dl.ID+" from release-bot") {
		t.Errorf("the delegated agent's rights:\n%s", can)
	}
	if own := get(t, b, chromedp.Text(css("#no-own"))); !strings.Contains(own, "delegated rights") {
		t.Errorf("the delegated agent's own permissions: %q", own)
	}

	run(t, b, chromedp.Navigate(s.URL+"/console/agents/"+bot.ID), chromedp.WaitVisible(css(".tree")))
	tree := get(t, b, chromedp.Text(css(".tree")))
	if !strings.Contains(tree, dl.ID) || !strings.Contains(tree, "no expiry") || strings.Contains(tree, "never") {
		t.Errorf("delegation tree:\n%s", tree)
	}
	if n := get(t, b, chromedp.Evaluate[int](`document.querySelectorAll(".tree .perms li").length`)); n != 2 {
		t.Errorf("the tree lists %d permissions of the delegation, want 2 items:\n%s", n, tree)
	}
	run(t, b, chromedp.Click(css(`.tree a[href$="/delegations/`+dl.ID+`/revoke"]`)), chromedp.WaitVisible(css("main form button")))
	confirm := get(t, b, chromedp.Text(css("main")))
	if !strings.Contains(confirm, "release-bot") || !strings.Contains(confirm, "ci-helper") {
		t.Errorf("the delegation's confirmation does not name both agents:\n%s", confirm)
	}
	run(t, b, chromedp.Click(css("main form button")), chromedp.WaitVisible(css(".flash")))
	if got, _ := s.Kavach.Delegations().Get(ctx, dl.ID); got.Status != agent.DelegationRevoked {
		t.Errorf("delegation after revoke: %s", got.Status)
	}

	run(t, b, chromedp.Click(css(`a[href$="/agents/`+bot.ID+`/revoke"]`)), chromedp.WaitVisible(css("main form button.deny")))
	if btn := get(t, b, chromedp.Text(css("main form button.deny"))); !strings.Contains(btn, "release-bot") {
		t.Errorf("the revoke button says %q, not the agent's name", btn)
	}
	if txt := get(t, b, chromedp.Text(css("main form"))); !strings.Contains(txt, bot.ID) {
		t.Errorf("the revoke confirmation lacks the agent's id:\n%s", txt)
	}
	run(t, b, chromedp.Click(css("main form button.deny")), chromedp.WaitVisible(css("#revoked-note")))
	note := get(t, b, chromedp.Text(css("#revoked-note")))
	if !strings.Contains(note, "Revoked 2") || !strings.Contains(note, "by user:alice") {
		t.Errorf("revoked note: %q", note)
	}
	if d := call(t, s, bot.Token, nil); d.Code != api.AgentRevoked {
		t.Errorf("after revoke: %s", d.Code)
	}
}

// lacks reports each of wants that text, which is what, does not contain.
func lacks(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, text)
		}
	}
}

// decide fills in fields of a request's card ("uses", "ttl", "reason"), clicks its
// button ("approve" or "deny") and returns the confirmation.
func decide(t *testing.T, ctx context.Context, id, button string, fields map[string]string) string {
	t.Helper()
	steps := []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(approvalCard(id))}
	for name, v := range fields {
		steps = append(steps, chromedp.SetValue(css(`input[id="`+name+`-`+id+`"]`), v))
	}
	steps = append(steps, chromedp.Click(css(string(approvalCard(id))+" button."+button)), chromedp.WaitVisible(css(".flash")))
	run(t, ctx, steps...)
	return get(t, ctx, chromedp.Text(css(".flash")))
}

// waiting starts the console with alice's release-bot, whose call with args waits for
// approval, and alice logged in to a browser.
func waiting(t *testing.T, args map[string]any) (*testserver.Server, *api.AgentWithToken, context.Context, api.Decision) {
	t.Helper()
	s := start(t)
	bot := gatedAgent(t, s, "alice", "release-bot")
	ctx := browser(t)
	d := call(t, s, bot.Token, args)
	login(t, ctx, s, "alice")
	return s, bot, ctx, d
}

// delegatedOnly makes alice's release-bot and ci-helper, an agent with no permissions of
// its own to which release-bot delegates each action on mcp:github:repos as a permission.
func delegatedOnly(t *testing.T, s *testserver.Server, actions ...string) (bot *api.AgentWithToken, helper *api.AgentWithToken, d *agent.Delegation) {
	t.Helper()
	bot = gatedAgent(t, s, "alice", "release-bot")
	ctx := kavach.WithActor(context.Background(), api.Root)
	helper, err := s.Kavach.Agents().Create(ctx, api.CreateAgentRequest{TenantID: agent.DefaultTenant, OwnerID: "alice", Name: "ci-helper", Type: agent.TypeDelegated})
	if err != nil {
		t.Fatal(err)
	}
	var perms []agent.Permission
	for _, a := range actions {
		perms = append(perms, agent.Permission{Resource: "mcp:github:repos", Actions: []string{a}})
	}
	if d, err = s.Kavach.Delegations().Delegate(ctx, api.DelegateRequest{FromAgentID: bot.ID, ToAgentID: helper.ID, Permissions: perms}); err != nil {
		t.Fatal(err)
	}
	return bot, helper, d
}
