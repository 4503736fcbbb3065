package audit

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kavachos/kavach-go/lifecycle"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavachos/kavach-go/store/sqlite"
)

// breakProduce makes the broker drop the connection of every produce request while down
// is set, as an unreachable broker would; fetches and metadata keep working.
func breakProduce(c *kfake.Cluster, down *atomic.Bool) {
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if down.Load() {
			return nil, errors.New("broker unreachable"), true
		}
		return nil, nil, false
	})
}

// (b) The broker becomes unreachable mid-run: the relay retries with back-off without
// moving its position, and once the broker is back the topic ends with every event.
func TestRelayCatchesUpAfterBrokerOutage(t *testing.T) {
	t.Parallel()
	for _, l := range ledgers {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := l.open(t)
			c := newBroker(t)
			var down atomic.Bool
			breakProduce(c, &down)
			r := startRelay(t, s, c, nil)
			reader := newTopicReader(t, c)
			tenants := []string{"acme", "globex", "initech"}

			before := newEvents(tenants, 600)
			appendEvents(t, s, before)
			reader.waitFor(t, before, 30*time.Second)
			waitUntil(t, 10*time.Second, "the first events are saved as published", lagIs(t, r, 0))

			down.Store(true)
			during := newEvents(tenants, 1200)
			appendEvents(t, s, during)
			failed := r.Stats().Failures
			waitUntil(t, 20*time.Second, "the relay failed and retried three times",
				func() bool { return r.Stats().Failures >= failed+3 })
			if lag, err := r.Lag(context.Background()); err != nil || lag != int64(len(during)) {
				t.Fatalf("while the broker is down: lag %d, %v; want %d (no position moves)", lag, err, len(during))
			}
			if st := r.Status(); st.State != lifecycle.Error {
				t.Fatalf("a leader that cannot publish reports %+v, want ERROR", st)
			}

			down.Store(false)
			after := newEvents(tenants, 600)
			appendEvents(t, s, after)
			all := slices.Concat(before, during, after)
			reader.waitFor(t, all, 30*time.Second)
			waitUntil(t, 10*time.Second, "the relay caught up", lagIs(t, r, 0))
			waitUntil(t, 10*time.Second, "the relay reports OK again", func() bool { return r.Status().State == lifecycle.OK })
			checkRecords(t, reader.records, all)
			if st := r.Stats(); st.State != RelayLeading || st.LastError == "" || st.Published < int64(len(all)) {
				t.Fatalf("stats after the outage: %+v", st)
			}
		})
	}
}

// A hole in a chain holds publishing back for gapWait, then is skipped; a start removed
// by retention is no hole and is skipped at once.
func TestRelaySkipsHolesInTheChain(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kavach.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	holed, pruned := newEvents([]string{"acme"}, 10), newEvents([]string{"globex"}, 10)
	appendEvents(t, s, append(holed, pruned...))
	if _, err := s.PruneAudit(context.Background(), "globex", 6, time.Now()); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM audit_events WHERE tenant_id = 'acme' AND seq = 4`); err != nil {
		t.Fatal(err)
	}

	c := newBroker(t)
	r, err := NewRelay(s, RelayConfig{Brokers: c.ListenAddrs(), Topic: testTopic, PollInterval: 10 * time.Millisecond,
		Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	r.gapWait = 200 * time.Millisecond
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop(context.Background())

	want := slices.Concat(holed[:3], holed[4:], pruned[5:])
	reader := newTopicReader(t, c)
	reader.waitFor(t, want, 20*time.Second)
	waitUntil(t, 10*time.Second, "the relay saved its positions", lagIs(t, r, 0))
	checkRecords(t, reader.records, want)
	if n := r.Stats().GapsSkipped; n != 1 {
		t.Fatalf("GapsSkipped = %d, want 1 (the pruned start is no hole)", n)
	}
	for _, e := range slices.Concat(pruned[:5], holed[3:4]) {
		if reader.seen[e.ID] != 0 {
			t.Fatalf("event %d of %s was published but is not in the ledger", e.Seq, e.TenantID)
		}
	}
}
