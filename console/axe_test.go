package console_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// axeSource is axe-core (MPL-2.0, testdata/axe-core/LICENSE), injected into pages under
// test through the DevTools protocol, so the console's CSP needs no exception for it.
//
//go:embed testdata/axe-core/axe.min.js
var axeSource string

type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// axe runs axe-core on the page the browser shows and returns its violations.
func axe(t *testing.T, ctx context.Context) []axeViolation {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axeSource+";true")); err != nil {
		t.Fatalf("loading axe-core: %v", err)
	}
	out := get(t, ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(
		r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(" "))}))))`,
		chromedp.EvalAwaitPromise))
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// checkAxe fails on a serious or critical violation, and on any landmark-unique one.
func checkAxe(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	for _, v := range axe(t, ctx) {
		if v.Impact == "serious" || v.Impact == "critical" || v.ID == "landmark-unique" {
			t.Errorf("%s: axe-core %s (%s): %s at %s", page, v.ID, v.Impact, v.Help, strings.Join(v.Targets, "; "))
		}
	}
}

// sideways reports how far the page is wider than the window (0: no sideways scrolling).
func sideways(t *testing.T, ctx context.Context) int {
	t.Helper()
	return get(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
}

func viewport(t *testing.T, ctx context.Context, w, h int64) {
	t.Helper()
	run(t, ctx, chromedp.EmulateViewport(w, h))
}

// timeZone makes the browser's time zone zone.
func timeZone(t *testing.T, ctx context.Context, zone string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
		t.Fatal(err)
	}
}

// page is a console page of the walk that TestBrowserAccessibility and TestScreenshots
// take, with who sees it.
type page struct {
	name, path string
	admin      bool
}

// consolePages builds a small, realistic ledger (alice's agents, a delegation, calls
// allowed and denied, approvals waiting and decided) and lists every page over it.
func consolePages(t *testing.T, s *testserver.Server) []page {
	t.Helper()
	bot, helper := gatedAgent(t, s, "alice", "release-bot"), gatedAgent(t, s, "alice", "ci-helper")
	other := gatedAgent(t, s, "bob", "triage-bot")
	d := delegate(t, s, bot.ID, helper.ID)
	for i := range 6 {
		read(t, s, bot.Token, i)
		read(t, s, other.Token, i)
	}
	if deny := call(t, s, other.Token, map[string]any{"branch": "main", "force": true}); deny.Code != api.ApprovalRequired {
		t.Fatalf("bob's call: %+v", deny)
	}
	decided := call(t, s, bot.Token, map[string]any{"branch": "hotfix"})
	approveAs(t, s, "alice", decided.ApprovalID, 2)
	call(t, s, bot.Token, map[string]any{"branch": "main", "tag": "v2.4.0"})
	call(t, s, helper.Token, map[string]any{"branch": "release/2.4"})
	ev := lastEvent(t, s)
	return []page{
		{"approvals", "/console/approvals", false},
		{"agents", "/console/agents", true},
		{"agent", "/console/agents/" + bot.ID, false},
		{"rotate", "/console/agents/" + bot.ID + "/rotate", false},
		{"revoke", "/console/agents/" + bot.ID + "/revoke", false},
		{"delegation-revoke", "/console/delegations/" + d.ID + "/revoke", false},
		{"audit", "/console/audit", true},
		{"event", "/console/audit/events/" + ev.ID + "?seq=" + itoa(ev.Seq), true},
		{"not-found", "/console/agents/agt_nobody", false},
	}
}

// approveAs approves a request as user, as the API would for their console.
func approveAs(t *testing.T, s *testserver.Server, user, id string, uses int) {
	t.Helper()
	ctx := kavach.WithActor(context.Background(), api.Actor{TenantID: agent.DefaultTenant, OwnerID: user, Role: api.RoleUser})
	if _, err := s.Kavach.Approvals().Approve(ctx, id, api.ApproveRequest{Uses: uses}); err != nil {
		t.Fatal(err)
	}
}

// lastEvent is the newest event of the ledger.
func lastEvent(t *testing.T, s *testserver.Server) agent.AuditEvent {
	t.Helper()
	p, err := s.Kavach.Audit().Query(kavach.WithActor(context.Background(), api.Root), api.AuditQuery{Limit: 1})
	if err != nil || len(p.Events) == 0 {
		t.Fatalf("newest event: %v", err)
	}
	return p.Events[0]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
