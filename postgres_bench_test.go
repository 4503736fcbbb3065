package kavach_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
	"github.com/kavachos/kavach-go/tests/bench/latency"
)

// BenchmarkChangeAcrossInstances commits one agent's change through one instance and times,
// from the commit, until another instance sharing the Postgres database decides on it (the
// change feed: a NOTIFY from the commit, then the other instance recompiles the agent).
// 10k agents.
func BenchmarkChangeAcrossInstances(b *testing.B) {
	url := pgtest.URL(b)
	ids := populateWith(b, url, 10_000, nil)
	writer, reader := openBench(b, url), openBench(b, url)
	defer writer.Close()
	defer reader.Close()
	ctx := context.Background()
	on := make(map[string]bool)
	var h latency.Histogram
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := ids[(i*7919)%len(ids)]
		on[id] = !on[id]
		want := on[id]
		if _, err := writer.Store().UpdateAgent(ctx, id, func(a *agent.Agent) error {
			a.Permissions[0].Actions = []string{"read"}
			if want {
				a.Permissions[0].Actions = []string{"read", "delete"}
			}
			a.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		for {
			r := reader.Engine().Decide(ctx, engine.Request{AgentID: id, Action: "delete", Resource: "mcp:github:repos", Now: time.Now(), DryRun: true})
			if r.Allowed == want {
				break
			}
			if time.Since(committed) > 10*time.Second {
				b.Fatalf("the other instance did not see the change within 10s (%s)", r.Code)
			}
			runtime.Gosched()
		}
		h.Record(time.Since(committed))
		i++
	}
	reportLatency(b, &h, "")
}

// BenchmarkRateLimitCost is the cost of a rate limit on an allowed call, end to end through
// authorize: the same call under a permission without a limit and with one (one slot
// charged per call in the store, shared by every instance on that store), on SQLite and on
// Postgres. 1,000 agents.
func BenchmarkRateLimitCost(b *testing.B) {
	backends := []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return "sqlite://" + b.TempDir() + "/kavach.db" }},
		{"postgres", func(b *testing.B) string { return pgtest.URL(b) }},
	}
	limited := func(a *agent.Agent) {
		a.Permissions[0].Constraints = &agent.Constraints{RateLimit: &agent.RateLimit{Max: 1_000_000, Window: agent.Duration(time.Minute)}}
	}
	for _, be := range backends {
		for _, limit := range []struct {
			name string
			edit func(*agent.Agent)
		}{{"none", nil}, {"rate", limited}} {
			b.Run("backend="+be.name+"/limit="+limit.name, func(b *testing.B) {
				url := be.url(b)
				ids := populateWith(b, url, 1_000, limit.edit)
				k := openBench(b, url)
				defer k.Close()
				ctx := kavach.WithActor(context.Background(), appActor)
				req := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}
				var h latency.Histogram
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					start := time.Now()
					d, err := k.Authorize(ctx, ids[i%len(ids)], req, api.CallContext{})
					h.Record(time.Since(start))
					if err != nil || !d.Allowed {
						b.Fatal(d, err)
					}
					i++
				}
				reportLatency(b, &h, "")
			})
		}
	}
}

// populateWith writes n generated agents, each first changed by edit (if not nil), into
// the database at url and returns their ids.
func populateWith(b *testing.B, url string, n int, edit func(*agent.Agent)) []string {
	b.Helper()
	ctx := context.Background()
	s, err := kavach.OpenStore(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := make([]string, n)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range ids {
		a, token := dataset.NewAgent(i, now)
		if edit != nil {
			edit(a)
		}
		if err := s.CreateAgent(ctx, a, agent.HashToken(token)); err != nil {
			b.Fatal(err)
		}
		ids[i] = a.ID
	}
	return ids
}
