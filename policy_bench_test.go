package kavach_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
	"github.com/kavachos/kavach-go/tests/bench/latency"
)

// BenchmarkReplay compares replaying a ledger with deciding its calls directly. A ledger of
// N decisions is recorded through Authorize (the mixed calls of the benchmark workload, by
// id, over 10,000 agents, drawn evenly or from Zipf distributions); then, per iteration, one
// of:
//
//   - decide: engine.Decide on each recorded call, one at a time, as the service decides
//     (rate slots charged in the store, the engine's decision memo on; no audit);
//   - evaluate: one side-effect-free evaluation of each call (engine.Evaluate);
//   - replay: ReplayPolicy of the whole ledger with a candidate (the ledger streamed from
//     SQLite, each call judged by two revisions), reporting the peaks above what they were
//     before, sampled every 5 ms, of the heap's objects (peak-heap-MB: garbage not yet
//     collected included) and of the live heap each collection found (peak-live-MB).
//
// Give -benchtime 1x: each iteration is a whole pass.
func BenchmarkReplay(b *testing.B) {
	for _, dist := range []string{"uniform", "zipf"} {
		for _, n := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("dist=%s/decisions=%dk", dist, n/1000), func(b *testing.B) { benchmarkReplay(b, dist, n) })
		}
	}
}

// benchmarkReplay records n calls — uniform: the mixed set over the agents evenly; zipf:
// agents and calls drawn from Zipf distributions (s=1.1), as repeated tool calls are — then
// times deciding, evaluating and replaying them.
func benchmarkReplay(b *testing.B, dist string, n int) {
	ctx := context.Background()
	p := populate(b, 10_000)
	k := openBench(b, p.db)
	mix, err := dataset.Mix("mixed")
	if err != nil {
		b.Fatal(err)
	}
	type recorded struct {
		m  dataset.Request
		id string
	}
	calls := make([]recorded, n)
	r := rand.New(rand.NewSource(1))
	who, what := rand.NewZipf(r, 1.1, 1, uint64(len(p.ids)-1)), rand.NewZipf(r, 1.1, 1, uint64(len(mix)-1))
	for i := range calls {
		c := recorded{m: mix[i%len(mix)], id: p.ids[(i*7919)%len(p.ids)]}
		if dist == "zipf" {
			c = recorded{m: mix[what.Uint64()], id: p.ids[(who.Uint64()*7919)%uint64(len(p.ids))]}
		}
		if c.m.Unknown {
			c.id = dataset.UnknownAgentID
		}
		calls[i] = c
	}
	app := kavach.WithActor(ctx, appActor)
	start := time.Now()
	for _, c := range calls {
		req := api.AuthorizeRequest{Action: c.m.Action, Resource: c.m.Resource, Arguments: c.m.Arguments}
		if _, err := k.Authorize(app, c.id, req, api.CallContext{IP: c.m.IP}); err != nil {
			b.Fatal(err)
		}
	}
	if err := k.Close(); err != nil { // commits every queued event
		b.Fatal(err)
	}
	b.Logf("recorded %d decisions in %s", n, time.Since(start).Round(time.Millisecond))
	k = openBench(b, p.db)
	defer k.Close()
	request := func(i int) engine.Request {
		c := calls[i]
		return engine.Request{AgentID: c.id, Action: c.m.Action, Resource: c.m.Resource, Arguments: c.m.Arguments, IP: c.m.IP, Now: time.Now()}
	}
	// Wall time and the process's CPU time per decision: on a shared machine the CPU figure
	// moves less.
	cpuStart := latency.CPUTime()
	perDecision := func(b *testing.B, elapsed time.Duration, count int) {
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(count), "ns/decision")
		b.ReportMetric(float64((latency.CPUTime()-cpuStart).Nanoseconds())/float64(count), "cpu-ns/decision")
	}
	// eachCall times fn over every recorded call, once per iteration.
	eachCall := func(fn func(req engine.Request) error) func(b *testing.B) {
		return func(b *testing.B) {
			var elapsed time.Duration
			cpuStart = latency.CPUTime()
			for b.Loop() {
				t := time.Now()
				for i := range n {
					if err := fn(request(i)); err != nil {
						b.Fatal(err)
					}
				}
				elapsed += time.Since(t)
			}
			perDecision(b, elapsed, b.N*n)
		}
	}
	b.Run("decide", eachCall(func(req engine.Request) error {
		if r := k.Engine().Decide(ctx, req); r.Code == api.EngineError {
			return r.Err
		}
		return nil
	}))
	b.Run("evaluate", eachCall(func(req engine.Request) error {
		_, err := k.Engine().Evaluate(ctx, nil, req)
		return err
	}))
	b.Run("replay", func(b *testing.B) {
		root := kavach.WithActor(ctx, api.Root)
		candidate := &engine.PolicySet{Revision: "candidate", Modules: []engine.Module{{Name: "custom.rego",
			Source: "package kavach.custom\n\nimport rego.v1\n\ndeny contains \"no deletes\" if input.action == \"delete\"\n"}}}
		base := liveHeap()
		// runtime/metrics reads the heap without stopping the world, as ReadMemStats does:
		// the heap's objects (live and not yet collected), and the live heap as the last
		// collection found it.
		var peak, peakLive atomic.Uint64
		done := make(chan struct{})
		go func() {
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
			for {
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
					metrics.Read(sample)
					if v := sample[0].Value.Uint64(); v > peak.Load() {
						peak.Store(v)
					}
					if v := sample[1].Value.Uint64(); v > peakLive.Load() {
						peakLive.Store(v)
					}
				}
			}
		}()
		var elapsed time.Duration
		var rep *api.ReplayReport
		cpuStart = latency.CPUTime()
		for b.Loop() {
			t := time.Now()
			if rep, err = k.ReplayPolicy(root, api.ReplayRequest{}, candidate); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(t)
		}
		close(done)
		if rep.Replayed == 0 || rep.Read != int64(n) {
			b.Fatalf("replayed %d of %d", rep.Replayed, rep.Read)
		}
		perDecision(b, elapsed, b.N*n)
		b.ReportMetric(float64(peak.Load()-min(peak.Load(), base))/1e6, "peak-heap-MB")
		b.ReportMetric(float64(peakLive.Load()-min(peakLive.Load(), base))/1e6, "peak-live-MB")
		b.Logf("replayed %d, %d changed, %d not replayable; answers remembered so far: %d", rep.Replayed, rep.Changed, rep.Read-rep.Replayed, k.Engine().Stats().MemoHits)
	})
}

// BenchmarkAuthorizeShadow measures authorize by id over 10,000 agents, one call at a time
// and from GOMAXPROCS goroutines, without and with a shadow revision evaluating every call
// (sample 1) or one in ten beside the active one: the caller's p50 and p99 in the same run.
func BenchmarkAuthorizeShadow(b *testing.B) {
	p := populate(b, 10_000)
	dir := b.TempDir()
	src := filepath.Join(dir, "src", "kavach", "custom")
	if err := os.MkdirAll(src, 0o755); err != nil {
		b.Fatal(err)
	}
	rule := "package kavach.custom\n\nimport rego.v1\n\ndeny contains \"no deletes\" if input.action == \"delete\"\n"
	if err := os.WriteFile(filepath.Join(src, "rules.rego"), []byte(rule), 0o644); err != nil {
		b.Fatal(err)
	}
	bundle := filepath.Join(dir, "candidate.tar.gz")
	f, err := os.Create(bundle)
	if err != nil {
		b.Fatal(err)
	}
	if err := engine.BuildBundle(filepath.Join(dir, "src"), "candidate", nil, f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	mix, err := dataset.Mix("mixed")
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name   string
		shadow string
		sample float64
	}{{"shadow=off", "", 0}, {"shadow=on/sample=0.1", bundle, 0.1}, {"shadow=on/sample=1", bundle, 1}} {
		name := v.name
		// Each variant starts from its own copy of the populated database, so that the
		// ledger one variant grows does not slow the next.
		db := filepath.Join(b.TempDir(), "kavach.db")
		src, err := os.ReadFile(strings.TrimPrefix(p.db, "sqlite://"))
		if err == nil {
			err = os.WriteFile(db, src, 0o600)
		}
		if err != nil {
			b.Fatal(err)
		}
		k, err := kavach.Open(context.Background(), kavach.Config{Database: "sqlite://" + db, Policy: kavach.PolicyConfig{Shadow: v.shadow, ShadowSample: v.sample},
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Audit:  kavach.AuditConfig{SigningKey: benchSigningKey}})
		if err != nil {
			b.Fatal(err)
		}
		ctx := kavach.WithActor(context.Background(), appActor)
		b.Run(name+"/serial", func(b *testing.B) {
			var h latency.Histogram
			i := 0
			for b.Loop() {
				t := time.Now()
				d, m, err := authorizeOne(ctx, k, p, "id", mix, i)
				h.Record(time.Since(t))
				checkDecision(b, d, m, err)
				i++
			}
			reportLatency(b, &h, "")
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			var next atomic.Int64
			var h latency.Histogram // records atomically
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1))
					t := time.Now()
					d, m, err := authorizeOne(ctx, k, p, "id", mix, i)
					h.Record(time.Since(t))
					checkDecision(b, d, m, err)
				}
			})
			reportLatency(b, &h, "")
		})
		if st, _ := k.PolicyStatus(kavach.WithActor(context.Background(), api.Root)); st.Shadow != nil {
			b.Logf("shadow: evaluated %d, dropped %d, disagreed %d", st.Shadow.Evaluated, st.Shadow.Dropped, st.Shadow.Disagreed)
		}
		k.Close()
	}
}
