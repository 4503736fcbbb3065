package audit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// leaseLog records, in order, when each relay took and gave up the lease.
type leaseLog struct {
	mu    sync.Mutex
	steps []string // "name+" on taking it, "name-" on giving it up
}

func (l *leaseLog) add(step string) {
	l.mu.Lock()
	l.steps = append(l.steps, step)
	l.mu.Unlock()
}

// checkExclusive fails if two relays ever held the lease at once.
func (l *leaseLog) checkExclusive(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	holder := ""
	for i, step := range l.steps {
		name, op := step[:len(step)-1], step[len(step)-1]
		switch {
		case op == '+' && holder == "":
			holder = name
		case op == '-' && holder == name:
			holder = ""
		default:
			t.Fatalf("step %d (%s) while %q leads: leadership overlapped in %v", i, step, holder, l.steps)
		}
	}
}

// observedLedger is a real store whose leases are logged and whose attempts are counted.
type observedLedger struct {
	RelayLedger
	name  string
	log   *leaseLog
	tries atomic.Int64
}

func (o *observedLedger) TryLead(ctx context.Context, name string) (store.Lease, bool, error) {
	o.tries.Add(1)
	l, ok, err := o.RelayLedger.TryLead(ctx, name)
	if !ok {
		return l, ok, err
	}
	o.log.add(o.name + "+")
	return &observedLease{Lease: l, done: func() { o.log.add(o.name + "-") }}, true, nil
}

type observedLease struct {
	store.Lease
	once sync.Once
	done func()
}

func (l *observedLease) Release() {
	l.once.Do(l.done) // logged before the lock is let go, so the log never shows an overlap that was not there
	l.Lease.Release()
}

// (c) Two instances share one Postgres database, each with a relay: only the lease holder
// publishes; when it stops, the other takes over from the stored position, while events
// keep being committed, and none is lost.
func TestRelayFailoverBetweenInstances(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	c := newBroker(t)
	var log leaseLog
	first := &observedLedger{RelayLedger: postgresLedger(t, url), name: "first", log: &log}
	second := &observedLedger{RelayLedger: postgresLedger(t, url), name: "second", log: &log}
	writer := postgresLedger(t, url)
	tenants := []string{"acme", "globex", "initech"}

	r1 := startRelay(t, first, c, nil)
	waitUntil(t, 10*time.Second, "the first relay leads", func() bool { return r1.State() == RelayLeading })
	r2 := startRelay(t, second, c, nil)

	phase1 := newEvents(tenants, 1000)
	appendEvents(t, writer, phase1)
	reader := newTopicReader(t, c)
	reader.waitFor(t, phase1, 30*time.Second)
	waitUntil(t, 10*time.Second, "the first relay saved its positions", lagIs(t, r1, 0))
	waitUntil(t, 10*time.Second, "the second relay tried the lease again", func() bool { return second.tries.Load() >= 3 })
	if st := r2.Stats(); st.State != RelayStandby || st.Leaderships != 0 || st.Published != 0 {
		t.Fatalf("the standby relay published while the other led: %+v", st)
	}

	// Keep committing while the leader stops and the standby takes over.
	var phase2 []*store.AuditEvent
	appended := make(chan error, 1)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond) // a steady stream of commits
		defer tick.Stop()
		for range 40 {
			<-tick.C
			chunk := newEvents(tenants, 50)
			if err := writer.AppendAudit(context.Background(), chunk...); err != nil {
				appended <- err
				return
			}
			phase2 = append(phase2, chunk...)
		}
		appended <- nil
	}()
	waitUntil(t, 10*time.Second, "the first relay published some of the new events",
		func() bool { return r1.Stats().Published > int64(len(phase1)) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the second relay leads", func() bool { return r2.State() == RelayLeading })
	if err := <-appended; err != nil {
		t.Fatal(err)
	}

	all := slices.Concat(phase1, phase2)
	reader.waitFor(t, all, 30*time.Second)
	waitUntil(t, 10*time.Second, "the second relay caught up", lagIs(t, r2, 0))
	checkRecords(t, reader.records, all)
	log.checkExclusive(t)
	if got := fmt.Sprint(log.steps); got != "[first+ first- second+]" {
		t.Fatalf("lease history %s, want the first relay, then the second", got)
	}
	for _, e := range phase1 {
		if n := reader.seen[e.ID]; n != 1 {
			t.Fatalf("event %s, published and saved before the handover, is on the topic %d times", e.ID, n)
		}
	}
	p1, p2 := r1.Stats().Published, r2.Stats().Published
	t.Logf("%d events: %d published by the first relay, %d by the second, %d records on the topic", len(all), p1, p2, len(reader.records))
	// The first relay finished its last write before letting go, so nothing was published twice.
	if p1 <= int64(len(phase1)) || p1+p2 != int64(len(all)) || len(reader.records) != len(all) {
		t.Fatalf("published %d by the first and %d by the second; the second must resume where the first saved", p1, p2)
	}
}
