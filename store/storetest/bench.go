package storetest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
)

// BenchmarkAllAgents streams every agent of a store populated with the benchmark data set
// (tests/bench/dataset: ten permissions each), as the engine does at start-up, for 100k
// agents and, with KAVACH_BENCH_1M=1, a million. Each iteration is a whole walk; it
// reports the cost per agent (ns, allocations, bytes) and how long populating took.
func BenchmarkAllAgents(b *testing.B, newStore func(testing.TB) store.Store) {
	sizes := []int{100_000}
	if os.Getenv("KAVACH_BENCH_1M") == "1" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("agents=%dk", n/1000), func(b *testing.B) {
			s := newStore(b)
			start := time.Now()
			if err := dataset.Populate(context.Background(), s, n, nil); err != nil {
				b.Fatal(err)
			}
			populated := time.Since(start)
			benchmarkWalk(b, s, n)
			b.ReportMetric(populated.Seconds(), "populate-s")
		})
	}
}

func benchmarkWalk(b *testing.B, s store.Store, n int) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	walks := 0
	for b.Loop() {
		seen := 0
		if err := s.AllAgents(context.Background(), func(a *agent.Agent) error {
			if len(a.Permissions) == 0 {
				return fmt.Errorf("agent %s came back without permissions", a.ID)
			}
			seen++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if seen != n {
			b.Fatalf("walked %d agents, want %d", seen, n)
		}
		walks++
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	agents := float64(walks * n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/agents, "ns/agent")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/agents, "allocs/agent")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/agents, "B/agent")
}
