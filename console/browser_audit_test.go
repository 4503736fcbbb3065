package console_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// auditLedger fills the ledger: release-bot's reads (more than a page of them), a call
// it has no right to, and ci-helper's call waiting for approval.
func auditLedger(t *testing.T, s *testserver.Server) (bot, helper *api.AgentWithToken, waiting api.Decision) {
	t.Helper()
	bot, helper = gatedAgent(t, s, "alice", "release-bot"), gatedAgent(t, s, "alice", "ci-helper")
	for range 55 {
		authorize(t, s, bot.Token, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"})
	}
	authorize(t, s, bot.Token, api.AuthorizeRequest{Action: "delete", Resource: "mcp:github:repos"})
	authorize(t, s, bot.Token, api.AuthorizeRequest{Action: "comment", Resource: "mcp:github:repos:kavachos:kavach-go:pulls:1234:review-comments:5678",
		Arguments: map[string]any{"body": "Looks good to me, but please squash the fixup commits before merging this pull request."}})
	return bot, helper, call(t, s, helper.Token, map[string]any{"branch": "main"})
}

// leave runs a step that loads another page and waits until the new one is shown.
func leave(t *testing.T, ctx context.Context, step chromedp.Action[chromedp.Void]) {
	t.Helper()
	get(t, ctx, chromedp.Evaluate[bool](`document.body.dataset.left = "1"; true`))
	run(t, ctx, step, chromedp.WaitNotPresent(css("body[data-left]")), chromedp.WaitVisible(css("main h1")))
}

func texts(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	return get(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(`+strconv.Quote(sel)+`)).map(e => e.textContent.trim())`))
}

// TestBrowserAuditNamesFiltersDetailAndPaging (issue 3): rows name the agent beside its
// id; the agent filter takes a name (suggested by a datalist) as well as an id; code and
// result are choices and the code filter ignores case; rows show the reason, IP and
// approval id; a row opens the event with every field; paging goes both ways with a count.
func TestBrowserAuditNamesFiltersDetailAndPaging(t *testing.T) {
	s := start(t)
	bot, helper, waiting := auditLedger(t, s)
	ctx := browser(t)
	login(t, ctx, s, admin)

	run(t, ctx, chromedp.Navigate(s.URL+"/console/audit"), chromedp.WaitVisible(css("#count")))
	if tags := get(t, ctx, chromedp.Evaluate[string](`document.getElementById("f-code").tagName + document.getElementById("f-result").tagName`)); tags != "SELECTSELECT" {
		t.Errorf("code and result filters are %s, want choices", tags)
	}
	if opts := texts(t, ctx, `#agent-choices option`); len(opts) == 0 {
		t.Error("the agent filter suggests nothing")
	}
	run(t, ctx, chromedp.SendKeys(css("#f-agent"), "ci-helper"))
	leave(t, ctx, chromedp.Submit(css("#f-agent")))
	agents := texts(t, ctx, `td[data-label="Agent"]`)
	if len(agents) == 0 {
		t.Fatal(`filtering by the name "ci-helper" finds nothing`)
	}
	for _, a := range agents {
		if !strings.Contains(a, "ci-helper") || !strings.Contains(a, helper.ID) {
			t.Errorf("row of agent %q under the filter ci-helper", a)
		}
	}
	row := get(t, ctx, chromedp.Text(css(`tbody tr`)))
	lacks(t, "the approval_required row", row, waiting.ApprovalID, "127.0.0.1", "needs a human approval", "APPROVAL_REQUIRED", `"branch":"main"`)

	run(t, ctx, chromedp.Navigate(s.URL+"/console/audit?code=no_permission"), chromedp.WaitVisible(css("#count")))
	if code := get(t, ctx, chromedp.Value(css("#f-code"))); code != "NO_PERMISSION" {
		t.Errorf("code filter shows %q for no_permission", code)
	}
	codes := texts(t, ctx, `td[data-label="Code and reason"] code`)
	if len(codes) != 2 || codes[0] != "NO_PERMISSION" || codes[1] != "NO_PERMISSION" {
		t.Errorf("code=no_permission gives codes %v", codes)
	}

	// The event in full.
	run(t, ctx, chromedp.Click(css(`td[data-label="Seq"] a`)), chromedp.WaitVisible(css("dl.event")))
	detail := get(t, ctx, chromedp.Text(css("dl.event")))
	lacks(t, "event detail", detail, "Seq", "Hash", "Previous hash", "User agent", "Go-http-client", "Duration", "release-bot", bot.ID, "no permission grants")

	// Both ways, with a count.
	run(t, ctx, chromedp.Navigate(s.URL+"/console/audit?agent="+bot.ID), chromedp.WaitVisible(css("#count")))
	count := get(t, ctx, chromedp.Text(css("#count")))
	if !strings.Contains(count, "1–50 of 58") {
		t.Errorf("first page count: %q", count)
	}
	leave(t, ctx, chromedp.Click(css(`a[rel="next"]`)))
	if count = get(t, ctx, chromedp.Text(css("#count"))); !strings.Contains(count, "51–58 of 58") {
		t.Errorf("second page count: %q", count)
	}
	leave(t, ctx, chromedp.Click(css(`a[rel="prev"]`)))
	if count = get(t, ctx, chromedp.Text(css("#count"))); !strings.Contains(count, "1–50 of 58") {
		t.Errorf("back on the first page: %q", count)
	}
	if n := len(texts(t, ctx, `a[rel="prev"]`)); n != 0 {
		t.Error("the newest page links to newer events")
	}
}

// TestBrowserLayoutFitsTheWindow (issue 4): at 390 px no page scrolls sideways; at
// 1280 px the audit page fits with its Seq column in view; the chart has axes and a
// legend and keeps a readable size.
func TestBrowserLayoutFitsTheWindow(t *testing.T) {
	s := start(t)
	bot, _, _ := auditLedger(t, s)
	ctx := browser(t)
	login(t, ctx, s, admin)
	viewport(t, ctx, 1280, 800)
	run(t, ctx, chromedp.Navigate(s.URL+"/console/audit"), chromedp.WaitVisible(css("main h1")))
	if over := sideways(t, ctx); over > 0 {
		t.Errorf("the audit page is %d px wider than 1280", over)
	}
	if right := get(t, ctx, chromedp.Evaluate[float64](`document.querySelector("th:first-child").getBoundingClientRect().right`)); right > 1280 {
		t.Errorf("the Seq column ends at %.0f px", right)
	}
	w := get(t, ctx, chromedp.Evaluate[float64](`document.querySelector(".chart svg")?.getBoundingClientRect().width ?? 0`))
	axes := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll(".chart .axis text").length`))
	legend := texts(t, ctx, `.legend li`)
	if w < 600 || axes < 4 || len(legend) < 2 {
		t.Errorf("chart: %.0f px wide, %d axis labels, legend %v", w, axes, legend)
	}
	viewport(t, ctx, 390, 844)
	for _, p := range []string{"/console/agents", "/console/audit", "/console/agents/" + bot.ID, "/console/approvals"} {
		run(t, ctx, chromedp.Navigate(s.URL+p), chromedp.WaitVisible(css("main h1")))
		if over := sideways(t, ctx); over > 0 {
			t.Errorf("%s scrolls sideways by %d px at 390 px", p, over)
		}
	}
}

// TestBrowserTimesInTheViewersZone (issue 9): times show in the browser's time zone with
// UTC on hover, the audit filter reads its times in that zone to the second, and durations
// read as people write them.
func TestBrowserTimesInTheViewersZone(t *testing.T) {
	s := start(t)
	bot, _, waiting := auditLedger(t, s)
	ctx := browser(t)
	login(t, ctx, s, "alice")
	timeZone(t, ctx, "America/Sao_Paulo")
	run(t, ctx, chromedp.Navigate(s.URL+"/console/approvals"), chromedp.WaitVisible(approvalCard(waiting.ApprovalID)))
	requested := get(t, ctx, chromedp.Text(css(string(approvalCard(waiting.ApprovalID))+" time")))
	title := get(t, ctx, chromedp.AttributeValue(css(string(approvalCard(waiting.ApprovalID))+" time"), "title"))
	if !strings.Contains(requested, "UTC-03:00") || !strings.HasSuffix(title.Value, "UTC") {
		t.Errorf("requested at %q (title %q): want São Paulo time, UTC on hover", requested, title.Value)
	}
	if help := get(t, ctx, chromedp.Text(css(`[id="ttl-help-`+waiting.ApprovalID+`"]`))); !strings.Contains(help, "empty: 1h") {
		t.Errorf("default lifetime reads %q", help)
	}
	if flash := decide(t, ctx, waiting.ApprovalID, "deny", nil); !strings.Contains(flash, "UTC-03:00") || strings.Contains(flash, " UTC.") {
		t.Errorf("the denial's end in the confirmation: %q", flash)
	}
	run(t, ctx, chromedp.Navigate(s.URL+"/console/agents/"+bot.ID), chromedp.WaitVisible(css("#can")))
	if page := get(t, ctx, chromedp.Text(css("main"))); !strings.Contains(page, "valid 1h)") || strings.Contains(page, "0m0s") {
		t.Errorf("durations on the agent page:\n%s", page)
	}

	saoPaulo, _ := time.LoadLocation("America/Sao_Paulo")
	now := time.Now().In(saoPaulo)
	run(t, ctx, chromedp.Navigate(s.URL+"/console/audit"), chromedp.WaitVisible(css("#f-since")))
	// The chart's time axis too: its first label is the São Paulo time of its instant.
	at := get(t, ctx, chromedp.AttributeValue(css("svg text.xlabel"), "data-at"))
	tickAt, err := time.Parse(time.RFC3339, at.Value)
	if err != nil {
		t.Fatalf("the chart's first tick has no instant: %q", at.Value)
	}
	if label := get(t, ctx, chromedp.TextContent(css("svg text.xlabel"))); !strings.HasPrefix(label, tickAt.In(saoPaulo).Format("15:04")) {
		t.Errorf("the chart's first tick reads %q for %s: want %s, São Paulo time", label, at.Value, tickAt.In(saoPaulo).Format("15:04"))
	}
	if step := get(t, ctx, chromedp.AttributeValue(css("#f-since"), "step")); step.Value != "1" {
		t.Errorf("the since picker's step is %q, want seconds", step.Value)
	}
	if label := get(t, ctx, chromedp.Text(css(`label[for="f-since"]`))); !strings.Contains(label, "America/Sao_Paulo") {
		t.Errorf("since label %q does not name the zone", label)
	}
	for _, tc := range []struct {
		since time.Time
		found bool
	}{{now.Add(-time.Hour), true}, {now.Add(time.Hour), false}} {
		run(t, ctx, chromedp.SetValue(css("#f-since"), tc.since.Format("2006-01-02T15:04:05")))
		leave(t, ctx, chromedp.Submit(css("#f-since")))
		count := get(t, ctx, chromedp.Text(css("#count")))
		if found := !strings.Contains(count, "No events"); found != tc.found {
			t.Errorf("since %s São Paulo time: %q", tc.since.Format(time.DateTime), count)
		}
	}
}
