package console_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kavachos/kavach-go/api"
)

// TestBrowserApproveAndDeny walks the human approval gate end to end in Chromium: the
// agent's call waits, the owner sees it in the console (the second one arrives by live
// refresh, without a reload by the test), a click approves and the retried call is
// allowed; a click denies and the retried call is APPROVAL_DENIED.
func TestBrowserApproveAndDeny(t *testing.T) {
	s := start(t)
	bot := gatedAgent(t, s, "alice", "release-bot")
	ctx := browser(t)

	d := call(t, s, bot.Token, map[string]any{"branch": "main"})
	if d.Code != api.ApprovalRequired || d.ApprovalID == "" {
		t.Fatalf("first call: %+v, want APPROVAL_REQUIRED with an approval id", d)
	}
	login(t, ctx, s, "alice")
	run(t, ctx, chromedp.WaitVisible(approvalCard(d.ApprovalID)))
	text := get(t, ctx, chromedp.Text(approvalCard(d.ApprovalID)))
	for _, want := range []string{"write", "mcp:github:repos", "release-bot", `"branch":"main"`, "Time left"} {
		if !strings.Contains(text, want) {
			t.Errorf("approval card lacks %q:\n%s", want, text)
		}
	}

	// A second request (other arguments) appears by live refresh.
	d2 := call(t, s, bot.Token, map[string]any{"branch": "dev"})
	if d2.Code != api.ApprovalRequired || d2.ApprovalID == d.ApprovalID {
		t.Fatalf("second call: %+v", d2)
	}
	run(t, ctx, chromedp.WaitVisible(approvalCard(d2.ApprovalID)))

	run(t, ctx,
		chromedp.SetValue(css(`input[id="uses-`+d.ApprovalID+`"]`), "2"),
		chromedp.Click(css(string(approvalCard(d.ApprovalID))+" button.approve")),
		chromedp.WaitVisible(css(".flash")),
	)
	if got := call(t, s, bot.Token, map[string]any{"branch": "main"}); !got.Allowed || got.Code != api.Allowed {
		t.Fatalf("retry after approval: %+v, want ALLOWED", got)
	}

	run(t, ctx,
		chromedp.SendKeys(css(`input[id="reason-`+d2.ApprovalID+`"]`), "not on dev today"),
		chromedp.Click(css(string(approvalCard(d2.ApprovalID))+" button.deny")),
		chromedp.WaitVisible(css(".flash")),
		chromedp.WaitNotPresent(approvalCard(d2.ApprovalID)),
	)
	if got := call(t, s, bot.Token, map[string]any{"branch": "dev"}); got.Allowed || got.Code != api.ApprovalDenied {
		t.Fatalf("retry after denial: %+v, want APPROVAL_DENIED", got)
	}
}

// TestBrowserUsersSeeOnlyTheirOwn: Bob's console never shows Alice's approvals or agents,
// not on first load and not after live refresh; Alice's does.
func TestBrowserUsersSeeOnlyTheirOwn(t *testing.T) {
	s := start(t)
	aliceBot := gatedAgent(t, s, "alice", "alice-bot")
	bobBot := gatedAgent(t, s, "bob", "bob-bot")
	alice, bob := browser(t), browser(t)
	login(t, alice, s, "alice")
	login(t, bob, s, "bob")

	da := call(t, s, aliceBot.Token, map[string]any{"branch": "main"})
	db := call(t, s, bobBot.Token, map[string]any{"branch": "main"})
	if da.Code != api.ApprovalRequired || db.Code != api.ApprovalRequired {
		t.Fatalf("calls: %+v %+v", da, db)
	}
	// Both pages pick up the new requests by live refresh; Bob's shows only his.
	run(t, alice, chromedp.WaitVisible(approvalCard(da.ApprovalID)))
	run(t, bob, chromedp.WaitVisible(approvalCard(db.ApprovalID)))
	bobPage := get(t, bob, chromedp.OuterHTML(css("html")))
	run(t, bob, chromedp.Navigate(s.URL+"/console/approvals.json"))
	feed := get(t, bob, chromedp.Text(css("body")))
	for _, leak := range []string{da.ApprovalID, aliceBot.ID, "alice"} {
		if strings.Contains(bobPage, leak) || strings.Contains(feed, leak) {
			t.Errorf("Bob's console shows %q", leak)
		}
	}
	run(t, bob, chromedp.Navigate(s.URL+"/console/agents"))
	agents := get(t, bob, chromedp.Text(css("main")))
	if strings.Contains(agents, aliceBot.ID) || !strings.Contains(agents, bobBot.ID) {
		t.Errorf("Bob's agents page:\n%s", agents)
	}
}
