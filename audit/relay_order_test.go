package audit

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavachos/kavach-go/store"
)

// withBlob gives every event an argument of size bytes, as a large tool call has.
func withBlob(events []*store.AuditEvent, size int) []*store.AuditEvent {
	blob := strings.Repeat("x", size)
	for _, e := range events {
		e.Arguments["blob"] = blob
	}
	return events
}

// carries reports whether a produce request holds the event: uncompressed records keep
// the event id in the clear.
func carries(req *kmsg.ProduceRequest, id string) bool {
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if bytes.Contains(p.Records, []byte(id)) {
				return true
			}
		}
	}
	return false
}

// partitionBytes sums the message values of the events from events[from] on that share
// its partition.
func partitionBytes(t *testing.T, events []*store.AuditEvent, from int) int64 {
	t.Helper()
	partition := func(e *store.AuditEvent) (int, int64) {
		m, err := encodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Murmur2Balancer{}.Balance(m, 0, 1, 2), int64(len(m.Value))
	}
	want, _ := partition(events[from])
	var total int64
	for _, e := range events[from:] {
		if p, n := partition(e); p == want {
			total += n
		}
	}
	return total
}

// One produce request of a relay batch fails (all of the writer's attempts) while the
// partition's later requests would go through: nothing after it may reach the partition
// before it is resent, so that by first delivery every key keeps seq order.
func TestRelayKeepsOrderWhenOneProduceRequestFails(t *testing.T) {
	t.Parallel()
	s := sqliteLedger(t)
	c := newBroker(t)
	events := withBlob(newEvents([]string{"acme"}, 1000), 8<<10)
	appendEvents(t, s, events)
	victim := events[3] // early in its partition's share of the batch
	if n := partitionBytes(t, events, 3); n <= 2*maxBatchBytes {
		t.Fatalf("the victim's partition gets %d bytes from it on: too few for several produce requests", n)
	}

	var failing atomic.Bool
	var failed atomic.Int64
	failing.Store(true)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !failing.Load() || !carries(req.(*kmsg.ProduceRequest), victim.ID) {
			return nil, nil, false
		}
		failed.Add(1)
		return nil, errors.New("connection lost"), true
	})
	r := startRelay(t, s, c, func(cfg *RelayConfig) { cfg.BatchSize = len(events) })
	waitUntil(t, 10*time.Second, "the relay reported the failed write", func() bool { return r.Stats().Failures > 0 })
	failing.Store(false)

	reader := newTopicReader(t, c)
	reader.waitFor(t, events, 15*time.Second)
	waitUntil(t, 10*time.Second, "the relay saved its position", lagIs(t, r, 0))
	if failed.Load() == 0 {
		t.Fatal("no produce request was failed")
	}
	t.Logf("%d produce requests failed; %d records for %d events", failed.Load(), len(reader.records), len(events))
	checkRecords(t, reader.records, events)
}

// Two relays share the ledger while events with 8 KB arguments keep being committed and
// the broker is cut twelve times for 100–700 ms; the leader stops during a cut and the
// other takes over. An independent consumer finds every event, and by first delivery
// each agent's events in seq order.
func TestRelayKeepsOrderAcrossBrokerCutsAndFailover(t *testing.T) {
	t.Parallel()
	s := sqliteLedger(t)
	var link linkCutter
	c := newBroker(t, kfake.ListenFn(link.listen))
	var log leaseLog
	first := &observedLedger{RelayLedger: s, name: "first", log: &log}
	second := &observedLedger{RelayLedger: s, name: "second", log: &log}
	tune := func(cfg *RelayConfig) { cfg.BatchSize = 500 }
	r1 := startRelay(t, first, c, tune)
	waitUntil(t, 10*time.Second, "the first relay leads", func() bool { return r1.State() == RelayLeading })
	r2 := startRelay(t, second, c, tune)
	reader := newTopicReader(t, c)

	var events []*store.AuditEvent
	appended := make(chan error, 1)
	go func() {
		tenants := []string{"acme", "globex"}
		for range 60 {
			chunk := withBlob(newEvents(tenants, 50), 8<<10)
			if err := s.AppendAudit(context.Background(), chunk...); err != nil {
				appended <- err
				return
			}
			events = append(events, chunk...)
			time.Sleep(100 * time.Millisecond)
		}
		appended <- nil
	}()

	rng := rand.New(rand.NewPCG(7, 12))
	for cut := range 12 {
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		link.set(true)
		time.Sleep(time.Duration(100+rng.IntN(600)) * time.Millisecond)
		if cut == 5 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := r1.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
		}
		link.set(false)
	}
	if err := <-appended; err != nil {
		t.Fatal(err)
	}

	reader.waitFor(t, events, 15*time.Second)
	waitUntil(t, 10*time.Second, "the second relay caught up", lagIs(t, r2, 0))
	log.checkExclusive(t)
	if got := log.steps; !slices.Equal(got, []string{"first+", "first-", "second+"}) {
		t.Fatalf("lease history %v, want the first relay, then the second", got)
	}
	st1, st2 := r1.Stats(), r2.Stats()
	t.Logf("%d events, %d records on the topic; failures: first %d, second %d", len(events), len(reader.records),
		st1.Failures, st2.Failures)
	if st1.Failures+st2.Failures == 0 {
		t.Fatal("no write failed: the cuts missed the relays")
	}
	checkRecords(t, reader.records, events)
}

// linkCutter stands between the broker and its clients on loopback, as a proxy would:
// while the link is cut, open connections are dropped and new ones closed as soon as they
// are accepted.
type linkCutter struct {
	net.Listener
	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

// listen is for kfake.ListenFn.
func (l *linkCutter) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	l.Listener, l.conns = ln, map[net.Conn]bool{}
	return l, nil
}

func (l *linkCutter) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		cut := l.cut
		if !cut {
			l.conns[conn] = true
		}
		l.mu.Unlock()
		if !cut {
			return &cutterConn{Conn: conn, l: l}, nil
		}
		conn.Close()
	}
}

// set cuts the link or restores it.
func (l *linkCutter) set(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for conn := range l.conns {
			conn.Close()
		}
		clear(l.conns)
	}
}

type cutterConn struct {
	net.Conn
	l *linkCutter
}

func (c *cutterConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c.Conn)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// A write is cut where the writer would start a second produce request for a partition:
// at its BatchSize messages or its BatchBytes bytes, all partitions counted together.
func TestRelayWritesAtMostOneRequestPerPartition(t *testing.T) {
	r := &Relay{writer: newKafkaWriter(RelayConfig{BatchSize: 200})}
	msgs := func(n, size int) []kafka.Message {
		m := make([]kafka.Message, n)
		for i := range m {
			m[i] = kafka.Message{Key: []byte("agt_1"), Value: make([]byte, size),
				Headers: []kafka.Header{{Key: RelayEventIDHeader, Value: []byte(NewID())}}}
		}
		return m
	}
	for _, tc := range []struct {
		name string
		msgs []kafka.Message
		want int
	}{
		{"few small", msgs(10, 100), 10},
		{"many small", msgs(500, 100), 200},
		{"8 KB each", msgs(500, 8<<10), int(maxBatchBytes / messageSize(msgs(1, 8<<10)[0]))},
		{"one near the limit", msgs(2, maxValueBytes), 1},
	} {
		got := r.requestLen(tc.msgs)
		var size int64
		for _, m := range tc.msgs[:got] {
			size += messageSize(m)
		}
		if got != tc.want || got > 1 && size > maxBatchBytes {
			t.Errorf("%s: %d messages of %d bytes in one write, want %d", tc.name, got, size, tc.want)
		}
	}
}
