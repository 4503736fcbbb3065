package audit_test

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/store"
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
