package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/console"
	"github.com/kavachos/kavach-go/internal/testserver"
)

var eventLink = regexp.MustCompile(`href="(/console/audit/events/[^"]+)"`)

// TestEventDetailKeepsMaskedArgumentsMasked: the event view shows the arguments as the
// ledger holds them, so a masked argument reads [masked] and its value appears nowhere;
// an event id with another event's seq is not found.
func TestEventDetailKeepsMaskedArgumentsMasked(t *testing.T) {
	ctx := context.Background()
	k, err := kavach.Open(ctx, kavach.Config{Database: testserver.Backends[0].New(t),
		Audit: kavach.AuditConfig{SigningKey: testserver.AuditKey, Sync: true, Mask: []string{"password"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	c, err := console.New(console.Config{Kavach: k, DevLogin: true, Admins: []string{admin}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	root := kavach.WithActor(ctx, api.Root)
	a, err := k.Agents().Create(root, api.CreateAgentRequest{TenantID: agent.DefaultTenant, OwnerID: "alice", Name: "db-bot",
		Permissions: []agent.Permission{{Resource: "db:prod", Actions: []string{"login"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Authorize(root, a.ID, api.AuthorizeRequest{Action: "login", Resource: "db:prod",
		Arguments: map[string]any{"password": "hunter2", "user": "app"}}, api.CallContext{IP: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}
	sec := loginHTTP(t, &testserver.Server{URL: srv.URL, Kavach: k}, admin)
	_, list := sec.do(http.MethodGet, "/console/audit?action=login", nil)
	m := eventLink.FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("no event link on the audit page:\n%s", list)
	}
	resp, detail := sec.do(http.MethodGet, strings.ReplaceAll(m[1], "&amp;", "&"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("event page: %d", resp.StatusCode)
	}
	lacks(t, "event page", detail, "[masked]", `&#34;user&#34;:&#34;app&#34;`, "203.0.113.9", "db-bot", a.ID)
	if strings.Contains(list+detail, "hunter2") {
		t.Error("a masked argument's value is shown")
	}
	wrong := strings.Replace(m[1], "?seq=", "?seq=1", 1)
	if resp, _ := sec.do(http.MethodGet, wrong, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an event id with another seq: %d", resp.StatusCode)
	}
}

// TestAuditFilterErrorsStayOnTheForm: a filter the console cannot use is answered on the
// audit page itself, beside the field, by its label, with what was typed; an agent name
// several agents share asks for one of their ids.
func TestAuditFilterErrorsStayOnTheForm(t *testing.T) {
	s := start(t)
	gatedAgent(t, s, "alice", "twin")
	gatedAgent(t, s, "alice", "twin")
	alice := loginHTTP(t, s, "alice")
	for _, tc := range []struct{ query, id, want string }{
		{"agent=nobody-here", "f-agent-err", "Agent: no agent you can see is named"},
		{"agent=twin", "f-agent-err", "Agent: several agents are named"},
		{"resource=mcp::", "f-resource-err", "Resource: not a resource pattern"},
		{"since=yesterday", "f-since-err", "Since: enter a date and time"},
	} {
		resp, page := alice.do(http.MethodGet, "/console/audit?"+tc.query, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="`+tc.id+`">`+tc.want) {
			t.Errorf("%s: %d, want 400 with %q beside the field", tc.query, resp.StatusCode, tc.want)
		}
		if _, v, _ := strings.Cut(tc.query, "="); !strings.Contains(page, `value="`+v+`"`) {
			t.Errorf("%s: the form lost what was typed", tc.query)
		}
	}
}

// TestApproveConfirmationForOneUse: the confirmation of a one-use approval reads as a
// sentence and is shown once.
func TestApproveConfirmationForOneUse(t *testing.T) {
	s := start(t)
	bot := gatedAgent(t, s, "alice", "release-bot")
	d := call(t, s, bot.Token, nil)
	alice := loginHTTP(t, s, "alice")
	if resp, _ := alice.do(http.MethodPost, "/console/approvals/"+d.ApprovalID+"/approve", url.Values{"csrf": {alice.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d", resp.StatusCode)
	}
	_, page := alice.do(http.MethodGet, "/console/approvals", nil)
	if want := "release-bot (" + d.ApprovalID + "): the next identical call is allowed, until "; !strings.Contains(page, want) {
		t.Errorf("the confirmation lacks %q:\n%s", want, page)
	}
	if _, again := alice.do(http.MethodGet, "/console/approvals", nil); strings.Contains(again, `class="flash"`) {
		t.Error("the confirmation is shown again")
	}
}
