package audit_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// BenchmarkNewID measures one event id.
func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = audit.NewID()
	}
}

// BenchmarkRecord measures what a decision pays to hand its event to the pipeline once it
// has its id (BenchmarkNewID): masking, the invalid-token check and the enqueue. The
// writer is not running, so only the caller's side is timed.
func BenchmarkRecord(b *testing.B) {
	p := audit.NewPipeline(audit.Config{Store: sqliteStore(b), QueueSize: b.N + 1, Mask: []string{"password"}})
	events := make([]*store.AuditEvent, b.N)
	for i := range events {
		events[i] = event("default", i)
		events[i].ID = audit.NewID()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := p.Record(ctx, events[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLedgerTrickle records events the way an HTTP server under load hands them
// over: 16 callers, each recording one event every 2 ms (8,000 events/s in all), so the
// writer sees them one at a time. It reports the process CPU per event and how many
// events each commit carried.
func BenchmarkLedgerTrickle(b *testing.B) {
	for _, wait := range batchWaits {
		b.Run("wait="+wait.name, func(b *testing.B) {
			benchTrickle(b, audit.Config{BatchWait: wait.d})
		})
	}
}

var batchWaits = []struct {
	name string
	d    time.Duration
}{{"off", -1}, {"default", 0}, {"5ms", 5 * time.Millisecond}}

func benchTrickle(b *testing.B, cfg audit.Config) {
	cfg.Store = sqliteStore(b)
	cfg.Signer = signer(b)
	p := audit.NewPipeline(cfg)
	p.Start(ctx)
	const callers, every = 16, 2 * time.Millisecond
	n := max(b.N, 2_000)
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range callers {
		wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := w; i < n; i += callers {
				<-tick.C
				if err := p.Record(ctx, event("default", i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := p.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	st := p.Stats()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(n), "cpu-µs/event")
	b.ReportMetric(float64(st.Written)/float64(st.Batches), "events/commit")
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLedgerCPU records b.N events through the real pipeline into a real ledger,
// asynchronously (as `kavach serve` runs by default) or in sync mode, and reports the
// process's CPU (user and system, every thread: writer, callers, GC) per committed event,
// the events committed per second, and the events each commit carried. allocs/op is per
// event, the writer's included. Postgres's own CPU is not counted: it is another process.
//
// callers=1 is one connection's calls, one at a time. In sync mode each call waits for its
// commit. Asynchronously the caller stands for a request that takes 100 µs besides its
// event (10,000 events/s): it spins on its own thread until its next call is due, and that
// spinning is not counted (its Record calls are). callers=16 are 16 callers recording back
// to back, waiting only for their commit in sync mode or for room in the queue.
//
//	go test ./audit -run '^$' -bench LedgerCPU -benchmem -benchtime 20000x
//
// -args -ledger-batch-wait 10ms runs it with another audit.Config.BatchWait.
func BenchmarkLedgerCPU(b *testing.B) {
	backends := []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", sqliteStore},
		{"postgres", func(t testing.TB) store.Store { return postgresStore(t, pgtest.URL(t)) }},
	}
	for _, backend := range backends {
		for _, sync := range []bool{false, true} {
			for _, callers := range []int{1, 16} {
				mode := "async"
				if sync {
					mode = "sync"
				}
				var gap time.Duration
				if !sync && callers == 1 {
					gap = 100 * time.Microsecond
				}
				b.Run(fmt.Sprintf("%s/%s/callers=%d", backend.name, mode, callers), func(b *testing.B) {
					benchLedgerCPU(b, backend.open(b), sync, callers, gap)
				})
			}
		}
	}
}

var (
	ledgerBatchWait = flag.Duration("ledger-batch-wait", 0, "BenchmarkLedgerCPU's audit.Config.BatchWait (0: the default)")
	ledgerAgents    = flag.Int("ledger-agents", 0, "BenchmarkLedgerCPU: spread the events over this many agents with ids shaped like real ones, drawn at random (0: seven short ids)")
	ledgerPrefill   = flag.Int("ledger-prefill", 0, "BenchmarkLedgerCPU: events written to the ledger before the timed ones, so that its indexes have the size of a ledger in service")
)

// spreadOverAgents gives the events agent ids like the API's, drawn at random from n.
func spreadOverAgents(events []*store.AuditEvent, n int) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("agt_%026x", rand.Uint64())
	}
	for _, e := range events {
		e.AgentID = ids[rand.IntN(n)]
	}
}

func benchLedgerCPU(b *testing.B, s store.Store, sync bool, callers int, gap time.Duration) {
	p := audit.NewPipeline(audit.Config{Store: s, Signer: signer(b), Sync: sync, Mask: []string{"password"},
		EnqueueTimeout: time.Minute, BatchWait: *ledgerBatchWait})
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if *ledgerPrefill > 0 {
		prefill := make([]*store.AuditEvent, *ledgerPrefill)
		for i := range prefill {
			prefill[i] = event("default", i)
		}
		if *ledgerAgents > 0 {
			spreadOverAgents(prefill, *ledgerAgents)
		}
		recordAll(b, p, prefill, 16)
		for p.Stats().Written < int64(len(prefill)) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	events := make([]*store.AuditEvent, b.N)
	for i := range events {
		events[i] = event("default", i)
	}
	if *ledgerAgents > 0 {
		spreadOverAgents(events, *ledgerAgents)
	}
	st0 := p.Stats()
	b.ReportAllocs()
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	var pacing time.Duration
	if gap > 0 {
		pacing = recordPaced(b, p, events, gap)
	} else {
		recordAll(b, p, events, callers)
	}
	if err := p.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0-pacing
	st := p.Stats()
	written, batches := st.Written-st0.Written, st.Batches-st0.Batches
	if written != int64(b.N) {
		b.Fatalf("%d events committed, want %d", written, b.N)
	}
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(b.N), "cpu-µs/event")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(written)/float64(batches), "events/commit")
}

// recordAll records events from callers goroutines, each recording its share one at a time.
func recordAll(b *testing.B, p *audit.Pipeline, events []*store.AuditEvent, callers int) {
	var wg sync.WaitGroup
	for w := range callers {
		wg.Go(func() {
			for i := w; i < len(events); i += callers {
				if err := p.Record(ctx, events[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// recordPaced records events one at a time, one every gap, from one goroutine that has its
// own thread and spins until each call is due. It returns the CPU that thread spent other
// than in Record, for the caller to leave out.
func recordPaced(b *testing.B, p *audit.Pipeline, events []*store.AuditEvent, gap time.Duration) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var inRecord time.Duration
	thread0 := threadCPU()
	next := time.Now()
	for _, e := range events {
		next = next.Add(gap)
		for time.Now().Before(next) {
		}
		t := time.Now()
		if err := p.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
		inRecord += time.Since(t)
	}
	return threadCPU() - thread0 - inRecord
}

// threadCPU is the CPU the calling thread has used, user and system.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
