package audit

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
	"github.com/kavachos/kavach-go/store/sqlite"
)

// ledgerEvents is the figure, 100k, unless -short.
func ledgerEvents() int {
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

// recordAll records the events through the pipelines from workers goroutines each.
func recordAll(t *testing.T, pipelines []*Pipeline, events []*store.AuditEvent, workers int) {
	t.Helper()
	var wg sync.WaitGroup
	for pi, p := range pipelines {
		for w := range workers {
			wg.Go(func() {
				for i := pi*workers + w; i < len(events); i += len(pipelines) * workers {
					if err := p.Record(context.Background(), events[i]); err != nil {
						t.Errorf("Record: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for _, p := range pipelines {
		if err := p.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// checkEndToEnd: exactly the recorded events in the ledger, gap-free chains that verify,
// and every event on the topic (after de-duplication by id).
func checkEndToEnd(t *testing.T, s store.Store, relay *Relay, reader *topicReader, events []*store.AuditEvent, trusted []string) {
	t.Helper()
	var total int64
	for _, tenant := range []string{"acme", "default"} {
		r, err := Verify(context.Background(), s, tenant, trusted)
		if err != nil || !r.OK {
			t.Fatalf("tenant %s: %+v %v", tenant, r, err)
		}
		head, _, _ := s.AuditHead(context.Background(), tenant)
		if head != r.Checked {
			t.Fatalf("tenant %s: head %d, %d events: seq has gaps", tenant, head, r.Checked)
		}
		total += r.Checked
	}
	if total != int64(len(events)) {
		t.Fatalf("%d events in the ledger, want exactly %d", total, len(events))
	}
	waitUntil(t, 2*time.Minute, "the relay has published everything", lagIs(t, relay, 0))
	reader.waitFor(t, events, 2*time.Minute)
	if len(reader.seen) != len(events) {
		t.Fatalf("%d distinct ids on the topic, want %d", len(reader.seen), len(events))
	}
}

func e2eEvents(n int) []*store.AuditEvent {
	events := newEvents([]string{"default", "acme"}, n)
	for _, e := range events {
		e.ID = "" // assigned by Record
	}
	return events
}

func TestDecisionsReachLedgerAndTopicOnSQLite(t *testing.T) {
	t.Parallel()
	s := sqliteLedger(t)
	broker := newBroker(t)
	sg, _ := NewSigner(make([]byte, 32), nil)
	p := NewPipeline(Config{Store: s, Signer: sg, Logger: quietLogger})
	p.Start(context.Background())
	relay := startRelay(t, s, broker, func(c *RelayConfig) { c.BatchSize = 1000 })
	reader := newTopicReader(t, broker)
	events := e2eEvents(ledgerEvents())
	recordAll(t, []*Pipeline{p}, events, 8)
	checkEndToEnd(t, s, relay, reader, events, []string{sg.PublicKey()})
}

// Two recorders, as two instances would run, share one Postgres ledger; one relay (the
// lease holder) publishes it.
func TestTwoRecordersOnePostgresLedgerAndTopic(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	s1, s2 := postgresLedger(t, url), postgresLedger(t, url)
	broker := newBroker(t)
	sg, _ := NewSigner(make([]byte, 32), nil)
	p1 := NewPipeline(Config{Store: s1, Signer: sg, Logger: quietLogger})
	p2 := NewPipeline(Config{Store: s2, Signer: sg, Logger: quietLogger})
	p1.Start(context.Background())
	p2.Start(context.Background())
	relay := startRelay(t, s1, broker, func(c *RelayConfig) { c.BatchSize = 1000 })
	reader := newTopicReader(t, broker)
	events := e2eEvents(ledgerEvents())
	recordAll(t, []*Pipeline{p1, p2}, events, 4)
	checkEndToEnd(t, s1, relay, reader, events, []string{sg.PublicKey()})
}

// BenchmarkLedgerThroughputWithRelay records 100k events per iteration from 8 goroutines
// into a SQLite ledger while the Kafka relay publishes it, and reports events/s recorded
// and the time until the topic has caught up.
func BenchmarkLedgerThroughputWithRelay(b *testing.B) {
	for b.Loop() {
		s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "kavach.db"))
		if err != nil {
			b.Fatal(err)
		}
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, testTopic))
		if err != nil {
			b.Fatal(err)
		}
		relay, err := NewRelay(s, RelayConfig{Brokers: cluster.ListenAddrs(), Topic: testTopic, BatchSize: 1000,
			PollInterval: 10 * time.Millisecond, Logger: quietLogger})
		if err != nil {
			b.Fatal(err)
		}
		relay.Start(context.Background())
		p := NewPipeline(Config{Store: s, Logger: quietLogger})
		p.Start(context.Background())
		events := e2eEvents(100_000)
		start := time.Now()
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < len(events); i += 8 {
					p.Record(context.Background(), events[i])
				}
			})
		}
		wg.Wait()
		p.Stop(context.Background())
		recorded := time.Since(start)
		for {
			if lag, _ := relay.Lag(context.Background()); lag == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		published := time.Since(start)
		relay.Stop(context.Background())
		cluster.Close()
		s.Close()
		b.ReportMetric(float64(len(events))/recorded.Seconds(), "recorded-events/s")
		b.ReportMetric(float64(len(events))/published.Seconds(), "published-events/s")
	}
}
