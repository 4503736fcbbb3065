package console_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// TestScreenshots renders each page in Chromium over a small, realistic ledger. With
// KAVACH_CONSOLE_SCREENSHOTS=DIR it writes the PNGs there (docs/console holds the
// committed ones): go test ./console -run Screenshots with KAVACH_CONSOLE_SCREENSHOTS=../docs/console.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("KAVACH_CONSOLE_SCREENSHOTS")
	s := start(t)
	bot, helper := gatedAgent(t, s, "alice", "release-bot"), gatedAgent(t, s, "alice", "ci-helper")
	other := gatedAgent(t, s, "bob", "triage-bot")
	delegate(t, s, bot.ID, helper.ID)
	for i := range 6 {
		read(t, s, bot.Token, i)
		read(t, s, other.Token, i)
	}
	deny := call(t, s, other.Token, map[string]any{"branch": "main", "force": true})
	if deny.Code != api.ApprovalRequired {
		t.Fatalf("bob's call: %+v", deny)
	}
	alice, sec := browser(t), browser(t)
	login(t, alice, s, "alice")
	d := call(t, s, bot.Token, map[string]any{"branch": "main", "tag": "v2.4.0"})
	call(t, s, helper.Token, map[string]any{"branch": "release/2.4"})
	run(t, alice, chromedp.WaitVisible(approvalCard(d.ApprovalID)))
	login(t, sec, s, admin)

	shots := []struct {
		name string
		ctx  bool // true: alice's browser; false: the admin's
		path string
	}{
		{"approvals", true, "/console/approvals"},
		{"agents", false, "/console/agents"},
		{"agent", true, "/console/agents/" + bot.ID},
		{"audit", false, "/console/audit"},
	}
	for _, sh := range shots {
		ctx := sec
		if sh.ctx {
			ctx = alice
		}
		run(t, ctx, chromedp.Navigate(s.URL+sh.path), chromedp.WaitVisible(css("main h1")))
		png := get(t, ctx, chromedp.FullScreenshot(100))
		if len(png) < 1000 {
			t.Fatalf("%s: screenshot of %d bytes", sh.name, len(png))
		}
		save(t, dir, sh.name, png)
	}
	anon := browser(t)
	run(t, anon, chromedp.Navigate(s.URL+"/console/login"), chromedp.WaitVisible(css("#username")))
	save(t, dir, "login", get(t, anon, chromedp.FullScreenshot(100)))
}

// read makes an allowed call and, every third time, one the agent has no right to.
func read(t *testing.T, s *testserver.Server, token string, i int) {
	t.Helper()
	authorize(t, s, token, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"})
	if i%3 == 0 {
		authorize(t, s, token, api.AuthorizeRequest{Action: "delete", Resource: "mcp:github:repos"})
	}
}

func save(t *testing.T, dir, name string, png []byte) {
	t.Helper()
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
