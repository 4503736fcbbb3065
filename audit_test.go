package kavach_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
)

// makeDecisions records n decisions for one agent and returns their audit ids in order.
func makeDecisions(t *testing.T, f *fixture, n int) (*api.AgentWithToken, []string) {
	t.Helper()
	a := create(t, f, alice, api.CreateAgentRequest{})
	var ids []string
	for i := range n {
		res := "mcp:github:repos"
		if i%2 == 1 {
			res = "mcp:slack:general"
		}
		d := authorize(t, f, alice, a.ID, api.AuthorizeRequest{Action: "read", Resource: res,
			Arguments: map[string]any{"i": i, "note": "a, \"quoted\"\nline"}})
		ids = append(ids, d.AuditID)
	}
	return a, ids
}

func verify(t *testing.T, f *fixture) *api.AuditReport {
	t.Helper()
	r, err := f.k.Audit().Verify(root, "default")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// execRaw runs SQL directly against the fixture's database, as an attacker with database
// access would.
func execRaw(t *testing.T, f *fixture, query string, args ...any) {
	t.Helper()
	if path, ok := strings.CutPrefix(f.db, "sqlite://"); ok {
		db, err := sql.Open("sqlite", "file:"+strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(strings.ReplaceAll(query, "$", "?"), args...); err != nil {
			t.Fatal(err)
		}
		return
	}
	conn, err := pgx.Connect(context.Background(), f.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	q := query
	for i := range args {
		q = strings.Replace(q, "$", fmt.Sprintf("@@%d", i+1), 1)
	}
	q = strings.ReplaceAll(q, "@@", "$")
	if _, err := conn.Exec(context.Background(), q, args...); err != nil {
		t.Fatal(err)
	}
}

func TestAuditTamperingIsDetectedAndNamed(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		_, ids := makeDecisions(t, f, 10)
		if err := f.k.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := verify(t, f); !r.OK || r.Checked < 11 {
			t.Fatalf("an intact ledger: %+v", r)
		}

		// One row's reason changed.
		execRaw(t, f, `UPDATE audit_events SET reason = $ WHERE id = $`, "nothing to see", ids[4])
		if r := verify(t, f); r.OK || r.FirstBrokenID != ids[4] {
			t.Fatalf("an edited reason must be named: %+v", r)
		}
	})
}

func TestAuditDeletionsAreDetected(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		_, ids := makeDecisions(t, f, 10)
		// One row deleted in the middle: the event after the gap is named.
		execRaw(t, f, `DELETE FROM audit_events WHERE id = $`, ids[5])
		if r := verify(t, f); r.OK || r.FirstBrokenID != ids[6] || !strings.Contains(r.Problem, "missing") {
			t.Fatalf("a deleted row must be detected: %+v", r)
		}
	})
	eachBackend(t, func(t *testing.T, f *fixture) {
		_, ids := makeDecisions(t, f, 10)
		if err := f.k.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The newest rows deleted, and the head rewritten to match: only the signed
		// checkpoint shows it.
		var head struct {
			seq  int64
			hash string
		}
		events, _ := auditEvents(t, f, "")
		for _, e := range events {
			if e.ID == ids[6] {
				head.seq, head.hash = e.Seq, e.Hash
			}
		}
		execRaw(t, f, `DELETE FROM audit_events WHERE tenant_id = $ AND seq > $`, "default", head.seq)
		execRaw(t, f, `UPDATE audit_heads SET seq = $, hash = $ WHERE tenant_id = $`, head.seq, head.hash, "default")
		r := verify(t, f)
		if r.OK || !strings.Contains(r.Problem, "truncated") || r.FirstBrokenSeq != head.seq+1 {
			t.Fatalf("truncation must be detected through the checkpoint: %+v", r)
		}
	})
}

func TestManagementEventsNameTheActor(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{Permissions: gated()})
		if _, err := f.k.Agents().Rotate(alice, a.ID, api.RotateRequest{}); err != nil {
			t.Fatal(err)
		}
		d := authorize(t, f, alice, a.ID, push("dev"))
		if _, err := f.k.Approvals().Approve(root, d.ApprovalID, api.ApproveRequest{Reason: "fine"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.k.Agents().Revoke(alice, a.ID); err != nil {
			t.Fatal(err)
		}
		events, err := auditEvents(t, f, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range events {
			if e.Kind == audit.KindManagement {
				got[e.Action] = e.Actor
				if strings.Contains(e.ArgumentsJSON, a.Token) {
					t.Fatal("a management event contains the token")
				}
			}
		}
		want := map[string]string{"agent.create": "user:alice", "agent.rotate": "user:alice",
			"approval.approve": "root", "agent.revoke": "user:alice"}
		for action, actor := range want {
			if got[action] != actor {
				t.Errorf("%s: actor %q, want %q (events: %v)", action, got[action], actor, got)
			}
		}
		if r := verify(t, f); !r.OK {
			t.Fatalf("management events are chained too: %+v", r)
		}
	})
}

func TestAuditQueryFiltersPagesAndIsolates(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a, ids := makeDecisions(t, f, 7)
		create(t, f, bob, api.CreateAgentRequest{})
		page, err := f.k.Audit().Query(alice, api.AuditQuery{AgentID: a.ID, Resource: "mcp:slack:*"})
		if err != nil || len(page.Events) != 3 {
			t.Fatalf("resource pattern filter: %d events, %v", len(page.Events), err)
		}
		// Pages newest first, then oldest first, cover every decision exactly once.
		for _, order := range []string{"desc", "asc"} {
			var got []string
			q := api.AuditQuery{AgentID: a.ID, Action: "read", Limit: 3, Order: order}
			for {
				p, err := f.k.Audit().Query(alice, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Events {
					got = append(got, e.ID)
				}
				if p.NextCursor == "" {
					break
				}
				q.Cursor = p.NextCursor
			}
			if order == "desc" {
				for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
					got[i], got[j] = got[j], got[i]
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(ids) {
				t.Fatalf("%s pages: %v, want %v", order, got, ids)
			}
		}
		// Bob sees only his own agents' events; asking for alice's is refused.
		p, err := f.k.Audit().Query(bob, api.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			if e.OwnerID != "bob" {
				t.Fatalf("bob sees an event of %q", e.OwnerID)
			}
		}
		if _, err := f.k.Audit().Query(bob, api.AuditQuery{OwnerID: "alice"}); !api.IsForbidden(err) {
			t.Fatalf("bob asking for alice's events: %v", err)
		}
		if _, err := f.k.Audit().Query(alice, api.AuditQuery{Cursor: "garbage"}); !api.IsInvalidInput(err) {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}

func TestAuditExportFormats(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a, _ := makeDecisions(t, f, 5)
		// Events whose reason and arguments hold commas, quotes and newlines.
		for i, reason := range []string{"a, b", `say "no"`, "line one\nline two", "all, \"of\"\nthem,\n"} {
			e := &agent.AuditEvent{Time: f.clock(), TenantID: "default", Kind: "decision", AgentID: a.ID,
				OwnerID: "alice", Action: "call", Resource: "mcp:x:y", Result: "denied", Code: "POLICY_DENIED",
				Reason: reason, Arguments: map[string]any{"q": reason, "n": i}, ID: audit.NewID()}
			if err := f.k.Store().AppendAudit(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}
		stored, err := auditEvents(t, f, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		export := func(format string) []byte {
			var b bytes.Buffer
			if err := f.k.Audit().Export(alice, api.AuditQuery{AgentID: a.ID}, format, &b); err != nil {
				t.Fatalf("export %s: %v", format, err)
			}
			return b.Bytes()
		}

		// CSV: reasons and arguments full of commas, quotes and newlines parse back exactly.
		rows, err := csv.NewReader(bytes.NewReader(export("csv"))).ReadAll()
		if err != nil {
			t.Fatalf("the CSV does not parse: %v", err)
		}
		if len(rows) != len(stored)+1 || strings.Join(rows[0], ",") != strings.Join(audit.CSVHeader, ",") {
			t.Fatalf("%d CSV rows for %d events", len(rows), len(stored))
		}
		for i, row := range rows[1:] {
			e, err := audit.ParseCSVRow(row)
			if err != nil {
				t.Fatal(err)
			}
			want := *stored[i]
			if e.ArgumentsJSON != want.ArgumentsJSON || e.Reason != want.Reason || e.Hash != want.Hash ||
				!e.Time.Equal(want.Time) || e.Seq != want.Seq || fmt.Sprint(e.Via) != fmt.Sprint(want.Via) {
				t.Fatalf("row %d differs:\n got  %+v\n want %+v", i, e, want)
			}
		}

		var arr []agent.AuditEvent
		if err := json.Unmarshal(export("json"), &arr); err != nil || len(arr) != len(stored) {
			t.Fatalf("JSON export: %d events, %v", len(arr), err)
		}
		dec := json.NewDecoder(bytes.NewReader(export("ndjson")))
		n := 0
		for {
			var e agent.AuditEvent
			if err := dec.Decode(&e); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if e.ID != stored[n].ID {
				t.Fatalf("NDJSON line %d is %s, want %s", n, e.ID, stored[n].ID)
			}
			n++
		}
		if n != len(stored) {
			t.Fatalf("NDJSON: %d lines for %d events", n, len(stored))
		}
		if err := f.k.Audit().Export(alice, api.AuditQuery{}, "xml", io.Discard); !api.IsInvalidInput(err) {
			t.Fatalf("unknown format: %v", err)
		}
	})
}

func TestAuditRetentionKeepsTheChainVerifiable(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		makeDecisions(t, f, 6)
		f.advance(time.Hour)
		_, later := makeDecisions(t, f, 4)
		first, err := f.k.PruneAudit(root, "default", f.clock().Add(-30*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		cutAt := f.clock().Add(-30 * time.Minute)
		events, _ := auditEvents(t, f, "")
		if events[0].Seq != first || events[0].Time.Before(cutAt) {
			t.Fatalf("after pruning the chain starts at %d (%s)", events[0].Seq, events[0].Time)
		}
		kept := map[string]bool{}
		for _, e := range events {
			kept[e.ID] = true
		}
		for _, id := range later {
			if !kept[id] {
				t.Fatalf("pruning removed a newer event %s", id)
			}
		}
		if r := verify(t, f); !r.OK {
			t.Fatalf("a pruned chain must still verify: %+v", r)
		}
		var pruned bool
		for _, e := range events {
			pruned = pruned || e.Action == "audit.prune" && e.Actor == "root"
		}
		if !pruned {
			t.Fatal("pruning is not itself audited")
		}
		if _, err := f.k.PruneAudit(alice, "default", f.clock()); !api.IsForbidden(err) {
			t.Fatalf("a user pruning: %v", err)
		}

		// Deleting old rows by hand and forging a base is detected: no signed checkpoint
		// vouches for it.
		cut := events[3].Seq
		execRaw(t, f, `DELETE FROM audit_events WHERE tenant_id = $ AND seq < $`, "default", cut)
		execRaw(t, f, `UPDATE audit_bases SET seq = $, prev_hash = $ WHERE tenant_id = $`, cut, events[2].Hash, "default")
		if r := verify(t, f); r.OK {
			t.Fatal("a forged base must not verify")
		}
	})
}
