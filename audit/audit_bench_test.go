package audit_test

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/store"
)

// BenchmarkLedgerThroughput records events from 8 goroutines through the pipeline into a
// SQLite ledger and reports events per second (group commit, hash chain, checkpoints).
func BenchmarkLedgerThroughput(b *testing.B) {
	s := sqliteStore(b)
	p := audit.NewPipeline(audit.Config{Store: s, Signer: signer(b)})
	p.Start(ctx)
	n := b.N * 1000
	b.ResetTimer()
	start := time.Now()
	record(b, p, n, 8)
	if err := p.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkExportMillionRows streams a 1,000,000-event ledger as CSV and reports the peak
// heap in use while it runs: export memory must not grow with the number of rows.
func BenchmarkExportMillionRows(b *testing.B) {
	s := sqliteStore(b)
	const rows, batch = 1_000_000, 10_000
	for i := 0; i < rows; i += batch {
		events := make([]*store.AuditEvent, batch)
		for j := range events {
			events[j] = event("default", i+j)
			events[j].ID = audit.NewID()
		}
		if err := s.AppendAudit(ctx, events...); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		var peak atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			var m runtime.MemStats
			for {
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		})
		n, err := audit.Export(ctx, s, store.AuditQuery{TenantID: "default"}, audit.FormatCSV, nil, io.Discard)
		close(stop)
		wg.Wait()
		if err != nil || n != rows {
			b.Fatalf("exported %d rows: %v", n, err)
		}
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	}
}
