package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/lifecycle"
	"github.com/kavachos/kavach-go/store"
)

// ledgerIDs returns the ids in a tenant's chain, failing on a duplicate.
func ledgerIDs(t *testing.T, s store.AuditStore, tenant string) map[string]*store.AuditEvent {
	t.Helper()
	events, err := store.CollectAudit(ctx, s, store.AuditQuery{TenantID: tenant})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*store.AuditEvent{}
	for _, e := range events {
		if out[e.ID] != nil {
			t.Fatalf("event %s is in the ledger twice", e.ID)
		}
		out[e.ID] = e
	}
	return out
}

func verifyOK(t *testing.T, s store.AuditStore, tenant string) {
	t.Helper()
	r, err := audit.Verify(ctx, s, tenant, nil)
	if err != nil || !r.OK {
		t.Fatalf("verify: %+v, %v", r, err)
	}
}

// TestAmbiguousCommitInSyncModeAnswersWhatWasCommitted: a commit whose answer is lost must
// neither wedge the writer nor make the caller's answer disagree with the ledger.
func TestAmbiguousCommitInSyncModeAnswersWhatWasCommitted(t *testing.T) {
	t.Parallel()
	g := &gated{Store: sqliteStore(t)}
	g.lost.Store(1)
	p := audit.NewPipeline(audit.Config{Store: g, Sync: true})
	p.Start(ctx)
	defer p.Stop(ctx)
	first := event("default", 1)
	if err := p.Record(ctx, first); err != nil {
		t.Fatalf("the event was committed, but its caller was told %v", err)
	}
	for i := 2; i <= 5; i++ {
		if err := p.Record(ctx, event("default", i)); err != nil {
			t.Fatalf("the writer is wedged after a lost commit answer: %v", err)
		}
	}
	ids := ledgerIDs(t, g, "default")
	if len(ids) != 5 || ids[first.ID] == nil || ids[first.ID].Code != first.Code {
		t.Fatalf("ledger holds %d events (want 5, once each, the first as answered)", len(ids))
	}
	verifyOK(t, g, "default")
	if st := p.Stats(); st.WriteErrors != 1 || st.FailedClosed != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestAmbiguousCommitInAsyncModeLosesNothing: events answered before a lost commit answer
// are all in the ledger once, and later events keep flowing.
func TestAmbiguousCommitInAsyncModeLosesNothing(t *testing.T) {
	t.Parallel()
	g := &gated{Store: sqliteStore(t)}
	g.lost.Store(3)
	p := audit.NewPipeline(audit.Config{Store: g, MaxBatch: 7})
	p.Start(ctx)
	record(t, p, 200, 4)
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(ledgerIDs(t, g, "default")) + len(ledgerIDs(t, g, "acme")); n != 200 {
		t.Fatalf("%d of 200 events in the ledger", n)
	}
	verifyOK(t, g, "default")
	verifyOK(t, g, "acme")
}

// TestFailureBeforeCommitRefusesSyncCallersAndKeepsTheLedgerAgreeing: a caller told its
// event failed never finds it in the ledger later.
func TestFailureBeforeCommitRefusesSyncCallersAndKeepsTheLedgerAgreeing(t *testing.T) {
	t.Parallel()
	g := &gated{Store: sqliteStore(t)}
	g.fails.Store(1)
	p := audit.NewPipeline(audit.Config{Store: g, Sync: true})
	p.Start(ctx)
	refused := event("default", 1)
	if err := p.Record(ctx, refused); err == nil {
		t.Fatal("a failed commit must be reported to the sync caller")
	}
	if err := p.Record(ctx, event("default", 2)); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if ids := ledgerIDs(t, g, "default"); ids[refused.ID] != nil || len(ids) != 1 {
		t.Fatalf("the refused event was written after its caller failed closed (%d events)", len(ids))
	}
}

// TestIntegrityConflictIsSetAsideLoudly: an id the ledger holds with other content is not
// retried forever; the rest of its batch is written and the conflict is counted.
func TestIntegrityConflictIsSetAsideLoudly(t *testing.T) {
	t.Parallel()
	s := sqliteStore(t)
	spool := filepath.Join(t.TempDir(), "audit.spool")
	held := event("default", 1)
	held.ID = audit.NewID()
	if err := s.AppendAudit(ctx, held); err != nil {
		t.Fatal(err)
	}
	p := audit.NewPipeline(audit.Config{Store: s, Sync: true, SpoolFile: spool})
	p.Start(ctx)
	defer p.Stop(ctx)
	forged := *held
	forged.Code, forged.Seq, forged.Hash = "NO_PERMISSION", 0, ""
	if err := p.Record(ctx, &forged); !errors.Is(err, store.ErrIntegrity) {
		t.Fatalf("want an integrity error, got %v", err)
	}
	if err := p.Record(ctx, event("default", 2)); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.IntegrityErrors != 1 {
		t.Fatalf("stats: %+v", st)
	}
	if b, err := os.ReadFile(spool + ".rejected"); err != nil || len(b) == 0 {
		t.Fatalf("the rejected event is not kept: %v", err)
	}
	verifyOK(t, s, "default")
}

// TestPersistentFailureIsAnErrorStateAndRecovers: readiness reads the writer's state.
func TestPersistentFailureIsAnErrorStateAndRecovers(t *testing.T) {
	t.Parallel()
	g := &gated{Store: sqliteStore(t)}
	p := audit.NewPipeline(audit.Config{Store: g})
	p.Start(ctx)
	defer p.Stop(ctx)
	if st := p.Status(); st.State != lifecycle.OK {
		t.Fatalf("a started pipeline is %+v", st)
	}
	g.down.Store(true)
	if err := p.Record(ctx, event("default", 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return p.Status().State == lifecycle.Error })
	g.down.Store(false)
	waitFor(t, func() bool { return p.Status().State == lifecycle.OK && p.Stats().Written == 1 })
}

// TestStopWithTheLedgerDownSpoolsAndTheNextStartWritesIt: what Stop cannot commit is
// neither lost nor silently dropped.
func TestStopWithTheLedgerDownSpoolsAndTheNextStartWritesIt(t *testing.T) {
	t.Parallel()
	g := &gated{Store: sqliteStore(t)}
	spool := filepath.Join(t.TempDir(), "audit.spool")
	p := audit.NewPipeline(audit.Config{Store: g, SpoolFile: spool})
	p.Start(ctx)
	record(t, p, 50, 2)
	waitFor(t, func() bool { return p.Stats().Written == 50 })
	g.lost.Store(1) // the next commit goes through, but its answer is lost: those events are in doubt
	record(t, p, 30, 1)
	g.down.Store(true)
	record(t, p, 20, 1)
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := p.Stop(sctx); err == nil {
		t.Fatal("Stop must say that events were not committed")
	}
	if p.Stats().Spooled == 0 {
		t.Fatalf("nothing spooled: %+v", p.Stats())
	}
	g.down.Store(false)
	next := audit.NewPipeline(audit.Config{Store: g, SpoolFile: spool})
	if err := next.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := next.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(ledgerIDs(t, g, "default")) + len(ledgerIDs(t, g, "acme")); n != 100 {
		t.Fatalf("%d of 100 acknowledged events in the ledger after the spool was written", n)
	}
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Fatalf("the spool file is left after its events were written: %v", err)
	}
	verifyOK(t, g, "default")
	verifyOK(t, g, "acme")
}

// TestInvalidTokenSummaryIsCommittedBeforeSyncAnswers: in sync mode a folded invalid-token
// call returns only after the summary carrying its id is in the ledger.
func TestInvalidTokenSummaryIsCommittedBeforeSyncAnswers(t *testing.T) {
	t.Parallel()
	s := sqliteStore(t)
	p := audit.NewPipeline(audit.Config{Store: s, Sync: true, InvalidTokenInterval: 50 * time.Millisecond})
	p.Start(ctx)
	defer p.Stop(ctx)
	for i := range 4 {
		e := event("default", i)
		e.AgentID, e.Code, e.Result, e.IP = "", "TOKEN_INVALID", audit.ResultDenied, "198.51.100.1"
		if err := p.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
		if ledgerIDs(t, s, "default")[e.ID] == nil {
			t.Fatalf("call %d was answered with audit id %s before that event was committed", i, e.ID)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
	}
}

// TestSpoolSurvivesStopsWhileTheLedgerStaysDown: a start that cannot commit its spool adds
// only what came since to it, and the start that can commits each event once.
func TestSpoolSurvivesStopsWhileTheLedgerStaysDown(t *testing.T) {
	t.Parallel()
	g := &gated{Store: sqliteStore(t)}
	g.down.Store(true)
	spool := filepath.Join(t.TempDir(), "audit.spool")
	stopSoon := func(p *audit.Pipeline) {
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		p.Stop(sctx)
	}
	first := audit.NewPipeline(audit.Config{Store: g, SpoolFile: spool})
	first.Start(ctx)
	record(t, first, 5, 1)
	stopSoon(first)
	second := audit.NewPipeline(audit.Config{Store: g, SpoolFile: spool})
	if err := second.Start(ctx); err != nil {
		t.Fatal(err)
	}
	record(t, second, 3, 1)
	stopSoon(second)
	g.down.Store(false)
	third := audit.NewPipeline(audit.Config{Store: g, SpoolFile: spool})
	if err := third.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := third.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(ledgerIDs(t, g, "default")) + len(ledgerIDs(t, g, "acme")); n != 8 || third.Stats().Replayed != 8 {
		t.Fatalf("%d of 8 spooled events in the ledger, %d replayed", n, third.Stats().Replayed)
	}
}

// TestAbandonedSyncEventsAreNeitherWrittenNorSpooled: a sync caller told its event was not
// committed (timeout, or its own context ending) never finds it in the ledger later, and a
// caller whose event was spooled at stop finds it there after the next start.
func TestAbandonedSyncEventsAreNeitherWrittenNorSpooled(t *testing.T) {
	t.Parallel()
	g := &gated{Store: sqliteStore(t)}
	spool := filepath.Join(t.TempDir(), "audit.spool")
	p := audit.NewPipeline(audit.Config{Store: g, Sync: true, MaxBatch: 1, SyncTimeout: 100 * time.Millisecond, SpoolFile: spool})
	p.Start(ctx)
	// The first event's commit goes through but its answer is lost, and then the ledger is
	// down: the writer keeps retrying it, its caller waits, and later events stay queued.
	g.lost.Store(1)
	inDoubt := event("default", 1)
	answered := make(chan error, 1)
	g.gate = make(chan struct{})
	go func() { answered <- p.Record(ctx, inDoubt) }()
	g.gate <- struct{}{} // the first attempt
	g.down.Store(true)
	close(g.gate)
	timedOut, cancelled := event("default", 2), event("default", 3)
	if err := p.Record(ctx, timedOut); err == nil {
		t.Fatal("a queued sync event must time out while the writer is stuck")
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := p.Record(cctx, cancelled); err == nil {
		t.Fatal("a caller whose context ends must not be told its event was committed")
	}
	sctx, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	p.Stop(sctx)
	if err := <-answered; err != nil {
		t.Fatalf("the event in doubt was spooled, so its caller is told it is kept: %v", err)
	}
	g.down.Store(false)
	next := audit.NewPipeline(audit.Config{Store: g, SpoolFile: spool})
	next.Start(ctx)
	if err := next.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	ids := ledgerIDs(t, g, "default")
	if ids[inDoubt.ID] == nil || ids[timedOut.ID] != nil || ids[cancelled.ID] != nil || len(ids) != 1 {
		t.Fatalf("ledger: in doubt %v, timed out %v, cancelled %v, %d events", ids[inDoubt.ID] != nil,
			ids[timedOut.ID] != nil, ids[cancelled.ID] != nil, len(ids))
	}
}

// TestNoInvalidTokenIsFoldedAfterStop: once Stop has written the summaries, an invalid
// token is refused like any other event rather than folded into a summary nobody writes.
func TestNoInvalidTokenIsFoldedAfterStop(t *testing.T) {
	t.Parallel()
	p := audit.NewPipeline(audit.Config{Store: sqliteStore(t), InvalidTokenInterval: time.Hour})
	p.Start(ctx)
	garbage := func() *store.AuditEvent {
		e := event("default", 1)
		e.AgentID, e.Code, e.Result, e.IP = "", "TOKEN_INVALID", audit.ResultDenied, "198.51.100.1"
		return e
	}
	for range 2 {
		if err := p.Record(ctx, garbage()); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Record(ctx, garbage()); !errors.Is(err, audit.ErrStopped) {
		t.Fatalf("an invalid token after Stop: %v, want ErrStopped", err)
	}
}

// TestSpoolAfterATornLine: a crash in the middle of spooling leaves a partial line; the next
// spool starts a line of its own and every complete event is read back.
func TestSpoolAfterATornLine(t *testing.T) {
	t.Parallel()
	g := &gated{Store: sqliteStore(t)}
	spool := filepath.Join(t.TempDir(), "audit.spool")
	if err := os.WriteFile(spool, []byte(`{"id":"torn","tenan`), 0o600); err != nil {
		t.Fatal(err)
	}
	g.down.Store(true)
	p := audit.NewPipeline(audit.Config{Store: g, SpoolFile: spool})
	p.Start(ctx)
	record(t, p, 4, 1)
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	p.Stop(sctx)
	g.down.Store(false)
	next := audit.NewPipeline(audit.Config{Store: g, SpoolFile: spool})
	if err := next.Start(ctx); err != nil {
		t.Fatalf("a spool with a torn line: %v", err)
	}
	next.Stop(ctx)
	if n := len(ledgerIDs(t, g, "default")) + len(ledgerIDs(t, g, "acme")); n != 4 {
		t.Fatalf("%d of 4 events", n)
	}
}
