package audit_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
	"github.com/kavachos/kavach-go/store/sqlite"
)

var ctx = context.Background()

func sqliteStore(t testing.TB) store.Store {
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func postgresStore(t testing.TB, url string) store.Store {
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func event(tenant string, i int) *store.AuditEvent {
	return &store.AuditEvent{Time: time.Now(), TenantID: tenant, Kind: audit.KindDecision,
		AgentID: fmt.Sprintf("agt_%d", i%7), Action: "read", Resource: "mcp:github:repos",
		Arguments: map[string]any{"i": i}, Result: audit.ResultAllowed, Code: "ALLOWED"}
}

func signer(t testing.TB) *audit.Signer {
	s, err := audit.NewSigner(make([]byte, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// record sends n events from workers goroutines through p, spread over two tenants.
func record(t testing.TB, p *audit.Pipeline, n, workers int) {
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				tenant := "default"
				if i%5 == 0 {
					tenant = "acme"
				}
				if err := p.Record(ctx, event(tenant, i)); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d events refused", failed.Load())
	}
}

func checkLedger(t testing.TB, s store.AuditStore, want int64, trusted []string) {
	t.Helper()
	var total int64
	for _, tenant := range []string{"acme", "default"} {
		r, err := audit.Verify(ctx, s, tenant, trusted)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK {
			t.Fatalf("tenant %s: %+v", tenant, r)
		}
		seq, _, _ := s.AuditHead(ctx, tenant)
		if seq != r.Checked {
			t.Fatalf("tenant %s: head %d but %d events verified: seq has gaps", tenant, seq, r.Checked)
		}
		total += r.Checked
	}
	if total != want {
		t.Fatalf("%d events in the ledger, want exactly %d", total, want)
	}
}

// events is 100k unless -short: the figure, about two seconds on SQLite.
func events(t testing.TB) int {
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

func TestPipelineRecordsEverythingGapFreeOnSQLite(t *testing.T) {
	t.Parallel()
	s := sqliteStore(t)
	sg := signer(t)
	p := audit.NewPipeline(audit.Config{Store: s, Signer: sg, CheckpointInterval: 50 * time.Millisecond})
	p.Start(ctx)
	n := events(t)
	record(t, p, n, 8)
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	checkLedger(t, s, int64(n), []string{sg.PublicKey()})
	if st := p.Stats(); st.Written != int64(n) || st.Batches >= int64(n) || st.Checkpoints == 0 {
		t.Fatalf("stats: %+v (events must be group-committed and checkpointed)", st)
	}
}

// Two pipelines, as two instances would run, append to one Postgres database: each
// tenant's chain stays gap-free and verifies.
func TestTwoPipelinesShareOnePostgresChain(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	s1, s2 := postgresStore(t, url), postgresStore(t, url)
	sg := signer(t)
	// Generous enqueue waits: this is about the chain, not back-pressure on a busy machine.
	p1 := audit.NewPipeline(audit.Config{Store: s1, Signer: sg, EnqueueTimeout: time.Minute})
	p2 := audit.NewPipeline(audit.Config{Store: s2, Signer: sg, EnqueueTimeout: time.Minute})
	p1.Start(ctx)
	p2.Start(ctx)
	n := events(t)
	var wg sync.WaitGroup
	wg.Go(func() { record(t, p1, n/2, 4) })
	wg.Go(func() { record(t, p2, n/2, 4) })
	wg.Wait()
	if err := errors.Join(p1.Stop(ctx), p2.Stop(ctx)); err != nil {
		t.Fatal(err)
	}
	checkLedger(t, s1, int64(n), []string{sg.PublicKey()})
}

// gated is a real store whose audit writes can be held back or made to fail: before
// anything is sent (fails, down), or after a real commit whose answer is lost (lost), as
// when a connection drops right after COMMIT.
type gated struct {
	store.Store
	gate  chan struct{}
	fails atomic.Int32
	lost  atomic.Int32
	down  atomic.Bool
}

func (g *gated) AppendAudit(ctx context.Context, events ...*store.AuditEvent) error {
	if g.gate != nil {
		<-g.gate
	}
	if g.down.Load() || g.fails.Add(-1) >= 0 {
		return errors.New("ledger unavailable")
	}
	err := g.Store.AppendAudit(ctx, events...)
	if err == nil && g.lost.Add(-1) >= 0 {
		return fmt.Errorf("connection lost: %w", store.ErrCommitUnknown)
	}
	return err
}

func TestFullQueueFailsClosedAndDropsNothing(t *testing.T) {
	t.Parallel()
	g := &gated{Store: sqliteStore(t), gate: make(chan struct{})}
	p := audit.NewPipeline(audit.Config{Store: g, QueueSize: 2, MaxBatch: 1, EnqueueTimeout: 20 * time.Millisecond})
	p.Start(ctx)
	accepted := 0
	var refused error
	for i := 0; i < 10 && refused == nil; i++ {
		if refused = p.Record(ctx, event("default", i)); refused == nil {
			accepted++
		}
	}
	if !errors.Is(refused, audit.ErrQueueFull) || p.Stats().FailedClosed != 1 {
		t.Fatalf("a full queue must refuse after the timeout: %v, %+v", refused, p.Stats())
	}
	close(g.gate)
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if seq, _, _ := g.AuditHead(ctx, "default"); seq != int64(accepted) {
		t.Fatalf("%d accepted events, %d written", accepted, seq)
	}
}

func TestWriteFailuresAreRetried(t *testing.T) {
	t.Parallel()
	g := &gated{Store: sqliteStore(t)}
	g.fails.Store(2)
	p := audit.NewPipeline(audit.Config{Store: g})
	p.Start(ctx)
	for i := range 5 {
		if err := p.Record(ctx, event("default", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if seq, _, _ := g.AuditHead(ctx, "default"); seq != 5 || p.Stats().WriteErrors != 2 {
		t.Fatalf("after two failed writes: %d events, %+v", seq, p.Stats())
	}
}

// TestBatchWaitEndsWhenTheBatchIsFullOrOnStop: the writer's wait for more events never
// holds a full batch back, and Stop writes a partial batch at once.
func TestBatchWaitEndsWhenTheBatchIsFullOrOnStop(t *testing.T) {
	t.Parallel()
	s := sqliteStore(t)
	p := audit.NewPipeline(audit.Config{Store: s, MaxBatch: 5, BatchWait: time.Hour})
	p.Start(ctx)
	for i := range 12 {
		if err := p.Record(ctx, event("default", i)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); p.Stats().Written < 10; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("two full batches were not written: %+v", p.Stats())
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	if seq, _, _ := s.AuditHead(ctx, "default"); seq != 12 || p.Stats().Batches != 3 {
		t.Fatalf("after Stop: %d events in the ledger, %+v", seq, p.Stats())
	}
}

func TestSyncModeReturnsAfterCommitAndReportsFailures(t *testing.T) {
	t.Parallel()
	g := &gated{Store: sqliteStore(t)}
	p := audit.NewPipeline(audit.Config{Store: g, Sync: true})
	p.Start(ctx)
	defer p.Stop(ctx)
	e := event("default", 1)
	if err := p.Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.CollectAudit(ctx, g, store.AuditQuery{TenantID: "default"}); len(got) != 1 || got[0].ID != e.ID {
		t.Fatal("a sync Record returned before its event was committed")
	}
	g.fails.Store(1)
	if err := p.Record(ctx, event("default", 2)); err == nil {
		t.Fatal("a sync Record must report a failed commit")
	}
}

func TestInvalidTokensAreAggregatedPerSource(t *testing.T) {
	t.Parallel()
	s := sqliteStore(t)
	p := audit.NewPipeline(audit.Config{Store: s, InvalidTokenInterval: time.Hour})
	p.Start(ctx)
	ids := map[string]bool{}
	for i := range 53 {
		e := event("default", i)
		e.AgentID, e.Code, e.Result, e.IP = "", "TOKEN_INVALID", audit.ResultDenied, "198.51.100.1"
		if i >= 50 {
			e.IP = "203.0.113.9"
		}
		if err := p.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
		ids[e.ID] = true
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := store.CollectAudit(ctx, s, store.AuditQuery{TenantID: "default"})
	if len(got) != 4 {
		t.Fatalf("53 invalid tokens from two sources became %d events, want 4 (first + summary each)", len(got))
	}
	counts := map[string]any{}
	for _, e := range got {
		if !ids[e.ID] {
			t.Fatalf("event %s was never returned to a caller", e.ID)
		}
		if e.Arguments["count"] != nil {
			counts[e.IP] = e.Arguments["count"]
		}
	}
	if counts["198.51.100.1"] != 49.0 || counts["203.0.113.9"] != 2.0 {
		t.Fatalf("summary counts: %v", counts)
	}
}

func TestMaskedArgumentsAreNeverStored(t *testing.T) {
	t.Parallel()
	s := sqliteStore(t)
	p := audit.NewPipeline(audit.Config{Store: s, Sync: true, Mask: []string{"password"}})
	p.Start(ctx)
	defer p.Stop(ctx)
	e := event("default", 1)
	e.Arguments = map[string]any{"password": "hunter2", "user": "ann"}
	if err := p.Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	got, _ := store.CollectAudit(ctx, s, store.AuditQuery{TenantID: "default"})
	if got[0].Arguments["password"] != audit.Masked || got[0].Arguments["user"] != "ann" {
		t.Fatalf("stored arguments: %v", got[0].Arguments)
	}
}
