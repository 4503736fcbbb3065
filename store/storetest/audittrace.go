package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// testAuditTraceID: a trace id is stored, read back, hashed and filtered on by every
// insert path (single statements, multi-row statements, COPY on Postgres, a managed
// write's own transaction); an invalid one is dropped; a resent event matches only with
// the trace id it was committed with.
func testAuditTraceID(t *testing.T, s store.Store) {
	const traceA, traceB = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	t0 := now()
	traced := NewDecisionEvent(agent.DefaultTenant, "agt_a", t0)
	traced.TraceID = traceA
	untraced := NewDecisionEvent(agent.DefaultTenant, "agt_a", t0)
	upper := NewDecisionEvent(agent.DefaultTenant, "agt_a", t0)
	upper.TraceID = "4BF92F3577B34DA6A3CE929D0E0E4736"
	zeros := NewDecisionEvent(agent.DefaultTenant, "agt_a", t0)
	zeros.TraceID = "00000000000000000000000000000000"
	if err := s.AppendAudit(ctx, traced, untraced, upper, zeros); err != nil {
		t.Fatal(err)
	}
	// A large batch: Postgres copies it rather than inserting it.
	var batch []*store.AuditEvent
	for i := range 70 {
		e := NewDecisionEvent(agent.DefaultTenant, "agt_b", t0.Add(time.Duration(i)*time.Microsecond))
		if i%2 == 0 {
			e.TraceID = traceB
		}
		batch = append(batch, e)
	}
	if err := s.AppendAudit(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	// A management event, written in the transaction of the change it describes.
	managed := &store.AuditEvent{ID: agent.NewID("evt_"), Time: t0, TenantID: agent.DefaultTenant,
		Kind: "management", Actor: "root", Action: "tenant.create", Resource: "acme", Result: "ok", TraceID: traceA}
	if err := s.CreateTenant(store.WithAudit(ctx, managed), &agent.Tenant{ID: "acme", Name: "Acme", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}

	all := collect(t, s, store.AuditQuery{TenantID: agent.DefaultTenant})
	if len(all) != 75 {
		t.Fatalf("%d events, want 75", len(all))
	}
	want := []string{traceA, "", "", ""}
	for i := range 70 {
		want = append(want, map[bool]string{true: traceB}[i%2 == 0])
	}
	want = append(want, traceA)
	for i, e := range all {
		if e.TraceID != want[i] {
			t.Errorf("event %d (seq %d) has trace id %q, want %q", i, e.Seq, e.TraceID, want[i])
		}
	}
	checkChain(t, s, agent.DefaultTenant, 75)
	if g, w := dumpEvents(all[:1]), dumpEvents([]*store.AuditEvent{traced}); g != w {
		t.Fatalf("round trip:\n got  %s\n want %s", g, w)
	}

	count := func(q store.AuditQuery) string {
		q.TenantID = agent.DefaultTenant
		var seqs []int64
		for _, e := range collect(t, s, q) {
			seqs = append(seqs, e.Seq)
		}
		return fmt.Sprint(len(seqs), seqs[:min(len(seqs), 3)])
	}
	for _, c := range []struct {
		q    store.AuditQuery
		want string
	}{
		{store.AuditQuery{TraceID: traceA}, "2 [1 75]"},
		{store.AuditQuery{TraceID: traceB}, "35 [5 7 9]"},
		{store.AuditQuery{TraceID: traceB, Desc: true, Limit: 2}, "2 [73 71]"},
		{store.AuditQuery{TraceID: traceA, AgentID: "agt_a"}, "1 [1]"},
		{store.AuditQuery{TraceID: "0000000000000000000000000000abcd"}, "0 []"},
	} {
		if got := count(c.q); got != c.want {
			t.Errorf("%+v: got %s, want %s", c.q, got, c.want)
		}
	}

	// Resending the committed event (an ambiguous COMMIT) matches it; with another trace id
	// it is other content.
	again := *traced
	again.Seq, again.PrevHash, again.Hash = 0, "", ""
	if err := s.AppendAudit(ctx, &again); err != nil || again.Seq != 1 {
		t.Fatalf("resending a committed traced event: seq %d, %v", again.Seq, err)
	}
	forged := *traced
	forged.TraceID = traceB
	if err := s.AppendAudit(ctx, &forged); !errors.Is(err, store.ErrIntegrity) {
		t.Fatalf("a committed event resent with another trace id: want an integrity error, got %v", err)
	}
	checkChain(t, s, agent.DefaultTenant, 75)
}
