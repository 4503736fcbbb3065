package storetest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// testAuditAgentQueryAcrossEpochs: a ledger of 40,000 events, more than two of the SQLite
// index's epochs of 16,384, queried by agent — in both orders, with limits, seq bounds and
// other filters, across and exactly at epoch edges, for a busy agent, a rare one whose
// events skip a whole epoch, and one without events — gives what filtering every event
// gives.
func testAuditAgentQueryAcrossEpochs(t *testing.T, s store.Store) {
	const n, epoch = 40_000, 1 << 14
	t0 := now()
	rare := map[int]bool{5: true, 16_383: true, 16_384: true, 39_000: true, n: true} // seqs; none in the second epoch
	var batch []*store.AuditEvent
	for seq := 1; seq <= n; seq++ {
		id := fmt.Sprintf("agt_%d", seq%5)
		if rare[seq] {
			id = "agt_rare"
		}
		e := NewDecisionEvent(agent.DefaultTenant, id, t0.Add(time.Duration(seq)*time.Millisecond))
		e.Arguments = nil
		if seq%3 == 0 {
			e.Result, e.Code = "allowed", "ALLOWED"
		}
		if batch = append(batch, e); len(batch) == 2_000 {
			if err := s.AppendAudit(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	all := collect(t, s, store.AuditQuery{TenantID: agent.DefaultTenant})
	if len(all) != n {
		t.Fatalf("%d events, want %d", len(all), n)
	}
	// want filters every event the way the query asks.
	want := func(q store.AuditQuery) []int64 {
		var out []int64
		for _, e := range all {
			if e.AgentID == q.AgentID && (q.Code == "" || e.Code == q.Code) && (q.AfterSeq == 0 || e.Seq > q.AfterSeq) &&
				(q.BeforeSeq == 0 || e.Seq < q.BeforeSeq) && (q.Since.IsZero() || !e.Time.Before(q.Since)) &&
				(q.Until.IsZero() || e.Time.Before(q.Until)) {
				out = append(out, e.Seq)
			}
		}
		if q.Desc {
			slices.Reverse(out)
		}
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
		return out
	}
	bounds := []struct{ after, before int64 }{
		{0, 0}, {epoch - 1, 0}, {epoch, 0}, {0, epoch}, {0, epoch + 1}, {epoch - 2, epoch + 2},
		{epoch + 10, 2*epoch - 10}, {2*epoch - 1, 2*epoch + 1}, {n - 1, 0}, {n, 0}, {0, 1}, {100, 50},
	}
	checked := 0
	for _, id := range []string{"agt_1", "agt_rare", "agt_none"} {
		for _, b := range bounds {
			for _, desc := range []bool{false, true} {
				for _, limit := range []int{0, 1, 3, 5_000} {
					for _, code := range []string{"", "ALLOWED"} {
						q := store.AuditQuery{TenantID: agent.DefaultTenant, AgentID: id, AfterSeq: b.after,
							BeforeSeq: b.before, Desc: desc, Limit: limit, Code: code}
						if limit == 3 {
							q.Since, q.Until = t0.Add(10*time.Second), t0.Add(35*time.Second)
						}
						var got []int64
						for _, e := range collect(t, s, q) {
							got = append(got, e.Seq)
						}
						if w := want(q); !slices.Equal(got, w) {
							t.Fatalf("%+v:\n got  %d events %v\n want %d events %v", q, len(got), head(got), len(w), head(w))
						}
						checked++
					}
				}
			}
		}
	}
	// Bounds at the ends of int64 answer at once (a bound past the ledger holds nothing).
	for _, q := range []store.AuditQuery{
		{AgentID: "agt_1", AfterSeq: math.MaxInt64}, {AgentID: "agt_1", AfterSeq: math.MaxInt64, Desc: true},
		{AgentID: "agt_1", AfterSeq: math.MaxInt64 - 1, BeforeSeq: math.MaxInt64}, {AgentID: "agt_1", BeforeSeq: 1},
		{AgentID: "agt_1", AfterSeq: -5, BeforeSeq: 2}, {AgentID: "agt_1", AfterSeq: n, Limit: 1},
		{AgentID: "agt_1", AfterSeq: 2 * epoch, BeforeSeq: epoch}, {AgentID: "agt_1", AfterSeq: 2 * epoch, BeforeSeq: epoch, Desc: true},
	} {
		q.TenantID = agent.DefaultTenant
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var got []int64
		err := s.StreamAudit(qctx, q, func(e *store.AuditEvent) error { got = append(got, e.Seq); return nil })
		cancel()
		if w := want(q); err != nil || !slices.Equal(got, w) {
			t.Fatalf("%+v: %v %v, want %v", q, got, err, w)
		}
	}
	if got := len(want(store.AuditQuery{AgentID: "agt_rare"})); got != len(rare) {
		t.Fatalf("the rare agent has %d events, want %d", got, len(rare))
	}
	t.Logf("%d queries agree", checked)
}

func head(seqs []int64) []int64 { return seqs[:min(len(seqs), 12)] }
