package apitest

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
)

// testAudit: decisions and management actions can be queried, exported and verified, and
// a user reads only its own agents' events.
func testAudit(t *testing.T, env Env) {
	uk, uctx := env.As(t, alice)
	a := newAgent(t, uk, uctx, "", perms("mcp:github:*", "read"))
	pk, pctx := env.As(t, app)
	for _, res := range []string{"mcp:github:repos", "mcp:slack:general", "mcp:github:issues"} {
		must(pk.Authorize(pctx, a.ID, api.AuthorizeRequest{Action: "read", Resource: res}, api.CallContext{}))
	}
	bk, bctx := env.As(t, bob)
	newAgent(t, bk, bctx, "", perms("mcp:*", "read"))

	// The ledger is written asynchronously: wait for the three decisions.
	var page *api.AuditPage
	deadline := time.Now().Add(10 * time.Second)
	for {
		page = must(uk.Audit().Query(uctx, api.AuditQuery{AgentID: a.ID, Action: "read", Order: "asc"}))
		if len(page.Events) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(page.Events) != 3 || page.Events[1].Code != string(api.NoPermission) {
		t.Fatalf("the agent's decisions: %+v", page.Events)
	}
	if p := must(uk.Audit().Query(uctx, api.AuditQuery{Resource: "mcp:github:*", Action: "read"})); len(p.Events) != 2 {
		t.Fatalf("resource pattern filter: %d events", len(p.Events))
	}
	for _, e := range must(bk.Audit().Query(bctx, api.AuditQuery{})).Events {
		if e.OwnerID != "bob" {
			t.Fatalf("bob reads an event of %q", e.OwnerID)
		}
	}
	if _, err := bk.Audit().Query(bctx, api.AuditQuery{OwnerID: "alice"}); !api.IsForbidden(err) {
		t.Fatalf("bob asking for alice's events: %v", err)
	}
	if _, err := bk.Audit().Verify(bctx, ""); !api.IsForbidden(err) {
		t.Fatalf("a user verifying the ledger: %v", err)
	}
	var out bytes.Buffer
	if err := uk.Audit().Export(uctx, api.AuditQuery{AgentID: a.ID}, "csv", &out); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil || len(rows) != 5 || strings.Join(rows[0], ",") != strings.Join(audit.CSVHeader, ",") {
		t.Fatalf("csv export: %d rows, %v", len(rows), err)
	}
	if err := uk.Audit().Export(uctx, api.AuditQuery{}, "xml", &out); !api.IsInvalidInput(err) {
		t.Fatalf("an unknown export format: %v", err)
	}
	// Management events are written asynchronously too: wait until they are in.
	rk, rctx := env.As(t, root)
	deadline = time.Now().Add(10 * time.Second)
	for {
		r := must(rk.Audit().Verify(rctx, ""))
		if !r.OK {
			t.Fatalf("verify: %+v", r)
		}
		if r.Checked >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verify checked only %d events", r.Checked)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
