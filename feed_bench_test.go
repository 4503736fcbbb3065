package kavach_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// BenchmarkChangePropagation measures how long a revocation committed by one process takes
// to be enforced by another on the same database: two Kavach instances, each with its own
// store, as `kavach serve` and the CLI beside it (SQLite) or two servers (Postgres). It
// reports the median and the 99th percentile.
//
//	go test -run '^$' -bench ChangePropagation -benchtime 200x .
func BenchmarkChangePropagation(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchPropagation(b, "sqlite://"+filepath.Join(b.TempDir(), "kavach.db"))
	})
	b.Run("postgres", func(b *testing.B) { benchPropagation(b, pgtest.URL(b)) })
}

func benchPropagation(b *testing.B, url string) {
	a, other := twoInstancesOn(b, url)
	read := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}
	waits := make([]time.Duration, 0, b.N)
	for b.Loop() {
		x, err := a.Agents().Create(root, api.CreateAgentRequest{OwnerID: "o", Name: "x",
			Permissions: []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}}})
		if err != nil {
			b.Fatal(err)
		}
		for d, _ := other.Authorize(root, x.ID, read, api.CallContext{}); !d.Allowed; d, _ = other.Authorize(root, x.ID, read, api.CallContext{}) {
			time.Sleep(time.Millisecond)
		}
		if _, err := a.Agents().Revoke(root, x.ID); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for d, _ := other.Authorize(root, x.ID, read, api.CallContext{}); d.Code != api.AgentRevoked; d, _ = other.Authorize(root, x.ID, read, api.CallContext{}) {
			if time.Since(start) > 10*time.Second {
				b.Fatal("the revocation never reached the other instance")
			}
			time.Sleep(time.Millisecond)
		}
		waits = append(waits, time.Since(start))
	}
	slices.Sort(waits)
	b.ReportMetric(float64(waits[len(waits)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds())/1000, "p99-ms")
}
