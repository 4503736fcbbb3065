package sqlite_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/storetest"
)

var auditQueryEvents = flag.Int("audit-query-events", 300_000, "BenchmarkAuditAgentQuery: events in the ledger")

// BenchmarkAuditAgentQuery reads one agent's events from a ledger of -audit-query-events
// events spread at random over 10,000 agents, as the console's agent page and
// `kavach audit query --agent` do: latest50 asks for an agent's 50 newest events, rare for
// those of an agent with a single event at the start of the ledger (every epoch of the
// per-agent index is searched), all for every event of an agent.
//
//	go test ./store/sqlite -run '^$' -bench AuditAgentQuery -benchtime 2000x
func BenchmarkAuditAgentQuery(b *testing.B) {
	ctx := context.Background()
	s := open(b)
	agents := make([]string, 10_000)
	for i := range agents {
		agents[i] = fmt.Sprintf("agt_%026x", rand.Uint64())
	}
	t0 := time.Now().Add(-time.Hour)
	batch := make([]*store.AuditEvent, 0, 1_000)
	for i := range *auditQueryEvents {
		id := agents[rand.IntN(len(agents))]
		if i == 0 {
			id = "agt_rare"
		}
		e := storetest.NewDecisionEvent(agent.DefaultTenant, id, t0.Add(time.Duration(i)*time.Microsecond))
		e.Arguments = nil
		if batch = append(batch, e); len(batch) == cap(batch) {
			if err := s.AppendAudit(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := s.AppendAudit(ctx, batch...); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		q    func() store.AuditQuery
	}{
		{"latest50", func() store.AuditQuery {
			return store.AuditQuery{AgentID: agents[rand.IntN(len(agents))], Desc: true, Limit: 50}
		}},
		{"rare", func() store.AuditQuery { return store.AuditQuery{AgentID: "agt_rare", Desc: true, Limit: 50} }},
		{"all", func() store.AuditQuery { return store.AuditQuery{AgentID: agents[rand.IntN(len(agents))]} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			rows := 0
			for b.Loop() {
				q := c.q()
				q.TenantID = agent.DefaultTenant
				if err := s.StreamAudit(ctx, q, func(*store.AuditEvent) error { rows++; return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)/float64(b.N), "events/op")
		})
	}
}
