package engine_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
	"github.com/kavachos/kavach-go/tests/bench/latency"
)

// BenchmarkEngineLatency is the engine's share of authorize, with no store, audit or token
// lookup, on the benchmark data set (tests/bench/dataset):
//
//   - load: compiling every agent into the engine's agent set (ReplaceAll), with the heap
//     the engine keeps per agent (KAVACH_BENCH_HEAP_PROFILE=file writes that heap's
//     profile); each iteration is a whole load, so give -benchtime as a duration;
//   - mix=…: Decide one call at a time, with p50 and p99 from a latency histogram;
//     mix=unknown asks about an agent that does not exist, the floor with Kavach's own
//     evaluation settings (served agents, parsed input, shared regex cache); mix=zipf draws
//     the agents and the calls of the mixed set from Zipf distributions (s=1.1), as agents
//     calling the same few tools again and again do, where the others spread calls evenly;
//     mix=mixed-own and mix=zipf-own are those calls by agents that each hold a permission
//     of their own, so that no two share a profile and the memo cannot give one agent's
//     answer to another (engine/profile.go);
//   - memo=off|on: without and with the decision memo (engine.Config.DecisionMemo);
//   - put: one agent's change applied (Put) until the next Decide sees it.
//
// KAVACH_BENCH_1M=1 adds a million agents (about 4 GB of memory for the agents the
// benchmark itself keeps to decide with).
func BenchmarkEngineLatency(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if os.Getenv("KAVACH_BENCH_1M") == "1" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("agents=%dk", n/1000), func(b *testing.B) { benchmarkEngineLatency(b, n) })
	}
}

func benchmarkEngineLatency(b *testing.B, n int) {
	now := time.Now()
	agents := make([]*agent.Agent, n)
	for i := range agents {
		agents[i], _ = dataset.NewAgent(i, now)
	}
	var e *engine.Engine
	b.Run("load", func(b *testing.B) {
		var held int64
		for b.Loop() {
			b.StopTimer()
			e = nil
			before := heapInUse()
			b.StartTimer()
			e = newEngine(b, agents)
			b.StopTimer()
			held = int64(heapInUse()) - int64(before)
			b.StartTimer()
		}
		writeHeapProfile(b)
		b.ReportMetric(float64(held)/float64(len(agents)), "heap-B/agent")
	})
	if e == nil { // load was not selected
		e = newEngine(b, agents)
	}
	// Each mix starts from an empty memo: answers remembered in one must not speed up the
	// next.
	var own []*agent.Agent // built when a mix needs them
	for _, memo := range []struct {
		name string
		size int
	}{{"off", -1}, {"on", engine.DefaultDecisionMemo}} {
		for _, mix := range []string{"allowed", "denied", "mixed", "zipf", "unknown", "mixed-own", "zipf-own"} {
			b.Run("memo="+memo.name+"/mix="+mix, func(b *testing.B) {
				these := agents
				if name, ok := strings.CutSuffix(mix, "-own"); ok {
					if own == nil {
						own = withOwnPermission(agents)
					}
					these, mix = own, name
				}
				benchmarkDecideMix(b, newEngine(b, these, engine.Config{DecisionMemo: memo.size}), these, mix)
			})
		}
	}
	b.Run("put", func(b *testing.B) { benchmarkPutVisible(b, e, agents) })
}

// withOwnPermission copies the agents, each with a permission of its own
// (dataset.OwnPermission).
func withOwnPermission(agents []*agent.Agent) []*agent.Agent {
	own := make([]*agent.Agent, len(agents))
	for i, a := range agents {
		c := *a
		c.Permissions = slices.Clone(a.Permissions)
		dataset.OwnPermission(&c, i)
		own[i] = &c
	}
	return own
}

func newEngine(b *testing.B, agents []*agent.Agent, cfg ...engine.Config) *engine.Engine {
	b.Helper()
	ctx := context.Background()
	e, err := engine.New(ctx, append(cfg, engine.Config{})[0])
	if err != nil {
		b.Fatal(err)
	}
	if err := e.ReplaceAll(ctx, agents, nil); err != nil {
		b.Fatal(err)
	}
	return e
}

// writeHeapProfile writes the heap as it stands, with the engine loaded, to the file named by
// KAVACH_BENCH_HEAP_PROFILE (go tool pprof -sample_index=inuse_space): go test's own
// -memprofile is taken after the benchmarks, when the engine is gone.
func writeHeapProfile(b *testing.B) {
	path := os.Getenv("KAVACH_BENCH_HEAP_PROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func benchmarkDecideMix(b *testing.B, e *engine.Engine, agents []*agent.Agent, mixName string) {
	var mix []dataset.Request
	pick := func(i int) (dataset.Request, *agent.Agent) {
		return mix[i%len(mix)], agents[(i*7919)%len(agents)]
	}
	switch mixName {
	case "unknown":
		mix = []dataset.Request{dataset.Denied[len(dataset.Denied)-1]}
	case "zipf":
		mix, _ = dataset.Mix("mixed")
		r := rand.New(rand.NewSource(1))
		who, what := rand.NewZipf(r, 1.1, 1, uint64(len(agents)-1)), rand.NewZipf(r, 1.1, 1, uint64(len(mix)-1))
		pick = func(int) (dataset.Request, *agent.Agent) {
			return mix[what.Uint64()], agents[(who.Uint64()*7919)%uint64(len(agents))]
		}
	default:
		var err error
		if mix, err = dataset.Mix(mixName); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	var h latency.Histogram
	b.ReportAllocs()
	cpu := latency.CPUTime()
	i := 0
	for b.Loop() {
		m, a := pick(i)
		id := a.ID
		if m.Unknown {
			id = dataset.UnknownAgentID
		}
		start := time.Now()
		r := e.Decide(ctx, engine.Request{AgentID: id, Action: m.Action, Resource: m.Resource, Arguments: m.Arguments, IP: m.IP, Now: start})
		h.Record(time.Since(start))
		if r.Allowed != m.Allowed || r.Code != m.Code {
			b.Fatalf("%s: got %s (%v), want %s", m.Name, r.Code, r.Err, m.Code)
		}
		i++
	}
	b.ReportMetric(float64((latency.CPUTime()-cpu).Nanoseconds())/float64(i), "cpu-ns/op")
	b.ReportMetric(float64(h.Quantile(0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(h.Quantile(0.99).Nanoseconds()), "p99-ns")
}

// benchmarkPutVisible gives one agent's first permission the "delete" action, or takes it
// away, and times until a decision sees it.
func benchmarkPutVisible(b *testing.B, e *engine.Engine, agents []*agent.Agent) {
	ctx := context.Background()
	var h latency.Histogram
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Each agent visited gains the action, then loses it again on the next iteration.
		src := agents[(i/2*7919)%len(agents)]
		a := *src
		a.Permissions = append([]agent.Permission(nil), src.Permissions...)
		want := i%2 == 0
		if want {
			a.Permissions[0].Actions = []string{"read", "delete"}
		}
		start := time.Now()
		if err := e.Put(ctx, &a); err != nil {
			b.Fatal(err)
		}
		r := e.Decide(ctx, engine.Request{AgentID: a.ID, Action: "delete", Resource: "mcp:github:repos", Now: start})
		h.Record(time.Since(start))
		if r.Allowed != want {
			b.Fatalf("after Put: %s, want allowed=%v", r.Code, want)
		}
		i++
	}
	b.ReportMetric(float64(h.Quantile(0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(h.Quantile(0.99).Nanoseconds()), "p99-ns")
}
