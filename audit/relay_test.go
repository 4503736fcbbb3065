package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
	"github.com/kavachos/kavach-go/store/sqlite"
)

const testTopic = "kavach.audit.test"

var quietLogger = slog.New(slog.DiscardHandler)

// newBroker starts an in-process Kafka-protocol broker with the test topic (3 partitions).
func newBroker(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, testTopic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func sqliteLedger(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kavach.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func postgresLedger(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var ledgers = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store { return sqliteLedger(t) }},
	{"postgres", func(t *testing.T) store.Store { return postgresLedger(t, pgtest.URL(t)) }},
}

// startRelay starts a relay publishing to c, tuned for tests; it is stopped at cleanup.
func startRelay(t *testing.T, ledger RelayLedger, c *kfake.Cluster, tune func(*RelayConfig)) *Relay {
	t.Helper()
	cfg := RelayConfig{
		Brokers: c.ListenAddrs(), Topic: testTopic, PollInterval: 10 * time.Millisecond, BatchSize: 200,
		LeaseInterval: 20 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Logger: quietLogger,
	}
	if tune != nil {
		tune(&cfg)
	}
	r, err := NewRelay(ledger, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return r
}

// newEvents returns n decision and management events spread over the tenants, not yet
// stored. Every seventh is a management event without an agent.
func newEvents(tenants []string, n int) []*store.AuditEvent {
	events := make([]*store.AuditEvent, n)
	for i := range events {
		tenant := tenants[i%len(tenants)]
		e := &store.AuditEvent{
			ID: NewID(), TenantID: tenant, Time: time.Now(), Kind: KindDecision,
			AgentID: fmt.Sprintf("agt_%s_%d", tenant, i%5), Action: "read", Resource: "mcp:github:repos",
			Result: ResultAllowed, Arguments: map[string]any{"n": float64(i)},
		}
		if i%7 == 0 {
			e.Kind, e.AgentID, e.Actor, e.Action, e.Resource = KindManagement, "", "user_1", "agent.create", "agt_x"
		}
		events[i] = e
	}
	return events
}

// appendEvents commits the events to the ledger in chunks, as a recorder would.
func appendEvents(t *testing.T, s store.AuditStore, events []*store.AuditEvent) {
	t.Helper()
	for chunk := range slices.Chunk(events, 100) {
		if err := s.AppendAudit(context.Background(), chunk...); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
}

// topicReader reads the topic with an independent client, franz-go's kgo.
type topicReader struct {
	cl      *kgo.Client
	records []*kgo.Record
	seen    map[string]int // deliveries per event id
}

func newTopicReader(t *testing.T, c *kfake.Cluster) *topicReader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(testTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &topicReader{cl: cl, seen: map[string]int{}}
}

func eventID(rec *kgo.Record) string {
	for _, h := range rec.Headers {
		if h.Key == RelayEventIDHeader {
			return string(h.Value)
		}
	}
	return ""
}

// waitFor reads until every event is on the topic, failing after timeout.
func (r *topicReader) waitFor(t *testing.T, events []*store.AuditEvent, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		missing := 0
		for _, e := range events {
			if r.seen[e.ID] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		fetches := r.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after %v, %d of %d events are still missing from the topic", timeout, missing, len(events))
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(rec *kgo.Record) {
			r.records = append(r.records, rec)
			r.seen[eventID(rec)]++
		})
	}
}

// waitUntil polls cond until it holds, failing after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func lagIs(t *testing.T, r *Relay, want int64) func() bool {
	return func() bool {
		lag, err := r.Lag(context.Background())
		if err != nil {
			t.Fatalf("Lag: %v", err)
		}
		return lag == want
	}
}

// checkRecords checks every record against the events: known id, key, envelope, and, by
// first delivery, each key's events in seq order.
func checkRecords(t *testing.T, records []*kgo.Record, events []*store.AuditEvent) {
	t.Helper()
	byID := map[string]*store.AuditEvent{}
	for _, e := range events {
		byID[e.ID] = e
	}
	lastSeq, seen := map[string]int64{}, map[string]bool{}
	for _, rec := range records {
		want := byID[eventID(rec)]
		if want == nil {
			t.Fatalf("unknown event on the topic: header %q", eventID(rec))
		}
		var msg RelayMessage
		if err := json.Unmarshal(rec.Value, &msg); err != nil {
			t.Fatalf("value is not JSON: %v", err)
		}
		if msg.Schema != RelaySchema || msg.Event == nil || msg.Truncated {
			t.Fatalf("envelope: schema %q, event %v, truncated %v", msg.Schema, msg.Event != nil, msg.Truncated)
		}
		got := msg.Event
		if got.ID != want.ID || got.Seq != want.Seq || got.Hash != want.Hash || got.PrevHash != want.PrevHash ||
			got.TenantID != want.TenantID || got.AgentID != want.AgentID || got.Kind != want.Kind ||
			!got.Time.Equal(want.Time) || got.Arguments["n"] != want.Arguments["n"] {
			t.Fatalf("event differs:\n got  %+v\n want %+v", got, want)
		}
		wantKey := want.AgentID
		if wantKey == "" {
			wantKey = want.TenantID
		}
		if string(rec.Key) != wantKey {
			t.Fatalf("event %s has key %q, want %q", want.ID, rec.Key, wantKey)
		}
		if seen[want.ID] {
			continue // a redelivery after a failure
		}
		seen[want.ID] = true
		k := want.TenantID + "/" + string(rec.Key)
		if want.Seq <= lastSeq[k] {
			t.Fatalf("key %s: seq %d after %d; want seq order per key", k, want.Seq, lastSeq[k])
		}
		lastSeq[k] = want.Seq
	}
}

// (a) Events of several tenants, committed before and while the relay runs, all reach
// the topic, exactly once, keyed by agent, in the versioned envelope.
func TestRelayPublishesEveryEventOnce(t *testing.T) {
	t.Parallel()
	for _, l := range ledgers {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			s := l.open(t)
			c := newBroker(t)
			events := newEvents([]string{"acme", "globex", "initech"}, 2000)
			appendEvents(t, s, events[:1000])
			r := startRelay(t, s, c, nil)
			appendEvents(t, s, events[1000:])

			reader := newTopicReader(t, c)
			reader.waitFor(t, events, 30*time.Second)
			waitUntil(t, 10*time.Second, "the relay saved its position", lagIs(t, r, 0))
			checkRecords(t, reader.records, events)
			st := r.Stats()
			if st.Failures != 0 || st.Published != int64(len(events)) || len(reader.records) != len(events) {
				t.Fatalf("without failures every event is written once: %d on the topic, stats %+v", len(reader.records), st)
			}
			if st.State != RelayLeading || st.Leaderships != 1 {
				t.Fatalf("stats %+v: want one leadership, still leading", st)
			}
		})
	}
}

func TestRelayLifecycle(t *testing.T) {
	t.Parallel()
	s := sqliteLedger(t)
	if (RelayConfig{}).Enabled() {
		t.Fatal("a config without brokers must be disabled")
	}
	if _, err := NewRelay(s, RelayConfig{}); err == nil {
		t.Fatal("NewRelay without brokers must fail")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	never, err := NewRelay(s, RelayConfig{Brokers: []string{"127.0.0.1:1"}, Logger: quietLogger})
	if err != nil || never.State() != RelayNew {
		t.Fatalf("NewRelay: %v, state %v", err, never.State())
	}
	if err := never.Stop(ctx); err != nil || never.State() != RelayStopped {
		t.Fatalf("Stop before Start: %v, state %v", err, never.State())
	}
	if err := never.Start(ctx); err == nil {
		t.Fatal("a stopped relay started again")
	}

	// Nothing listens on port 1: the relay leads, fails, backs off, and Stop still
	// returns promptly, leaving the events for the next leader.
	appendEvents(t, s, newEvents([]string{"acme"}, 10))
	r, err := NewRelay(s, RelayConfig{Brokers: []string{"127.0.0.1:1"}, Topic: testTopic,
		LeaseInterval: 10 * time.Millisecond, MinBackoff: time.Hour, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err == nil {
		t.Fatal("a running relay started twice")
	}
	waitUntil(t, 10*time.Second, "the relay failed a write", func() bool { return r.Stats().Failures > 0 })
	if st := r.Stats(); st.State != RelayLeading || !strings.Contains(st.LastError, "Kafka") {
		t.Fatalf("stats %+v: want leading with the write error", st)
	}
	if err := r.Stop(ctx); err != nil || r.State() != RelayStopped {
		t.Fatalf("Stop during back-off: %v, state %v", err, r.State())
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if lag, err := r.Lag(ctx); err != nil || lag != 10 {
		t.Fatalf("Lag after a failed run: %d, %v; want 10", lag, err)
	}
	// The lease was given up: another relay can take it at once.
	lease, ok, err := s.TryLead(ctx, RelayLease)
	if err != nil || !ok {
		t.Fatalf("the stopped relay kept its lease: %v, %v", ok, err)
	}
	lease.Release()
}

func TestRelayBackoffDoublesAndCaps(t *testing.T) {
	r := &Relay{cfg: RelayConfig{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for attempt, w := range want {
		if got := r.backoff(attempt); got != w*time.Millisecond {
			t.Errorf("attempt %d: %v, want %v", attempt, got, w*time.Millisecond)
		}
	}
	if got := r.backoff(1000); got != time.Second {
		t.Errorf("attempt 1000: %v, want the cap", got)
	}
}

func TestRelayMessageFormat(t *testing.T) {
	small := newEvents([]string{"acme"}, 1)[0]
	small.Seq, small.Hash = 7, "h7"
	huge := newEvents([]string{"acme"}, 2)[1]
	huge.Seq, huge.Hash, huge.Arguments = 8, "h8", map[string]any{"blob": strings.Repeat("x", 2<<20)}
	for _, tc := range []struct {
		e         *store.AuditEvent
		truncated bool
	}{{small, false}, {huge, true}} {
		m, err := encodeEvent(tc.e)
		if err != nil {
			t.Fatal(err)
		}
		var msg RelayMessage
		if err := json.Unmarshal(m.Value, &msg); err != nil {
			t.Fatal(err)
		}
		if len(m.Value) > maxValueBytes || msg.Schema != RelaySchema || msg.Truncated != tc.truncated ||
			msg.Event.ID != tc.e.ID || msg.Event.Seq != tc.e.Seq || msg.Event.Hash != tc.e.Hash ||
			string(m.Headers[0].Value) != tc.e.ID || (msg.Event.Arguments != nil) == tc.truncated {
			t.Errorf("event %d: %d bytes, %+v", tc.e.Seq, len(m.Value), msg)
		}
	}
}
