package storetest

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/store"
)

// Option adjusts the suite to what a backend can offer.
type Option func(*options)

type options struct {
	newSecond NewSecond
}

func newOptions(opts []Option) *options {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// NewSecond opens another store over the same database as first, as a second Kavach
// instance sharing that database would. The test owns it.
type NewSecond func(t *testing.T, first store.Store) store.Store

// WithSecond runs the tests that need two stores over one database (shared leadership).
// Backends whose database belongs to one process (SQLite) leave it out.
func WithSecond(fn NewSecond) Option { return func(o *options) { o.newSecond = fn } }

func testRelayPositions(t *testing.T, s store.Store) {
	steps := []struct {
		relay, tenant string
		save          int64 // -1: only read
		want          int64
	}{
		{"kafka", "t1", -1, 0},
		{"kafka", "t1", 5, 5},
		{"kafka", "t1", 3, 5}, // never backwards
		{"kafka", "t1", 5, 5},
		{"kafka", "t1", 9, 9},
		{"kafka", "t2", -1, 0}, // per tenant
		{"other", "t1", -1, 0}, // per relay
		{"other", "t1", 2, 2},
		{"kafka", "t1", -1, 9},
		{"kafka", "t2", 1, 1},
	}
	for i, st := range steps {
		if st.save >= 0 {
			if err := s.SaveRelayPosition(ctx, st.relay, st.tenant, st.save); err != nil {
				t.Fatalf("step %d: SaveRelayPosition: %v", i, err)
			}
		}
		got, err := s.RelayPosition(ctx, st.relay, st.tenant)
		if err != nil || got != st.want {
			t.Fatalf("step %d: RelayPosition(%s, %s) = %d, %v; want %d", i, st.relay, st.tenant, got, err, st.want)
		}
	}
	if err := s.SaveRelayPosition(ctx, "kafka", "t1", -1); err == nil {
		t.Fatal("a negative position was accepted")
	}
}

func testRelayPositionsConcurrent(t *testing.T, s store.Store) {
	const writers, saves = 8, 25
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		highest int64
	)
	for range writers {
		wg.Go(func() {
			for range saves {
				seq := rand.Int64N(1000)
				if err := s.SaveRelayPosition(ctx, "kafka", "t1", seq); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				highest = max(highest, seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got, err := s.RelayPosition(ctx, "kafka", "t1"); err != nil || got != highest {
		t.Fatalf("after concurrent saves: %d, %v; want the highest, %d", got, err, highest)
	}
}

func mustLead(t *testing.T, s store.Store, name string) store.Lease {
	t.Helper()
	l, ok, err := s.TryLead(ctx, name)
	if err != nil || !ok {
		t.Fatalf("TryLead(%s) = %v, %v; want a lease", name, ok, err)
	}
	t.Cleanup(l.Release)
	return l
}

func mustNotLead(t *testing.T, s store.Store, name string) {
	t.Helper()
	l, ok, err := s.TryLead(ctx, name)
	if err != nil || ok {
		if ok {
			l.Release()
		}
		t.Fatalf("TryLead(%s) = %v, %v; want ok=false while another holds it", name, ok, err)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not closed within 10s", what)
	}
}

func testLeaseExclusive(t *testing.T, s store.Store) {
	a := mustLead(t, s, "relay.a")
	mustNotLead(t, s, "relay.a")
	b := mustLead(t, s, "relay.b") // other names are independent
	if isClosed(a.Lost()) || isClosed(b.Lost()) {
		t.Fatal("a held lease reports itself lost")
	}
	a.Release()
	a.Release() // idempotent
	waitClosed(t, a.Lost(), "Lost after Release")
	again := mustLead(t, s, "relay.a") // released leadership can be retaken
	mustNotLead(t, s, "relay.a")
	again.Release()
	mustNotLead(t, s, "relay.b")
}

func testLeaseConcurrentTakersGetOne(t *testing.T, s store.Store) {
	const takers = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		held []store.Lease
	)
	for range takers {
		wg.Go(func() {
			l, ok, err := s.TryLead(ctx, "relay.race")
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				held = append(held, l)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, l := range held {
		l.Release()
	}
	if len(held) != 1 {
		t.Fatalf("%d of %d concurrent TryLead calls won; want exactly 1", len(held), takers)
	}
}

func (o *options) testLeaseAcrossStores(t *testing.T, s store.Store) {
	if o.newSecond == nil {
		t.Skip("the backend's database is not shared between stores")
	}
	other := o.newSecond(t, s)
	first := mustLead(t, s, "relay.shared")
	mustNotLead(t, other, "relay.shared")
	first.Release()
	second := mustLead(t, other, "relay.shared")
	mustNotLead(t, s, "relay.shared")
	second.Release()
	mustLead(t, s, "relay.shared")

	// Positions are shared too: what one instance saved, the other resumes from.
	if err := s.SaveRelayPosition(ctx, "kafka", "t1", 7); err != nil {
		t.Fatal(err)
	}
	if got, err := other.RelayPosition(ctx, "kafka", "t1"); err != nil || got != 7 {
		t.Fatalf("position seen from the second store: %d, %v; want 7", got, err)
	}
}
