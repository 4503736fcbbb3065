package audit

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/internal/spantest"
)

// publishSpans returns the kavach.relay.publish spans of the tenant, after checking that
// each is a producer span of its own trace with the messaging attributes of the test topic.
func publishSpans(t *testing.T, exp *tracetest.InMemoryExporter, tenant string) []tracetest.SpanStub {
	t.Helper()
	var spans []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name != "kavach.relay.publish" || relaySpanAttr(s, "kavach.tenant_id").AsString() != tenant {
			continue
		}
		if s.SpanKind != trace.SpanKindProducer || s.Parent.IsValid() {
			t.Fatalf("publish span of kind %v with parent %v, want a producer span with no parent", s.SpanKind, s.Parent)
		}
		for key, want := range map[string]string{"messaging.system": "kafka", "messaging.operation.type": "send",
			"messaging.destination.name": testTopic} {
			if got := relaySpanAttr(s, key).AsString(); got != want {
				t.Fatalf("publish span: %s = %q, want %q", key, got, want)
			}
		}
		if n := relaySpanAttr(s, "messaging.batch.message_count"); n.Type() != attribute.INT64 || n.AsInt64() <= 0 {
			t.Fatalf("publish span: messaging.batch.message_count = %s, want a positive count", n.Emit())
		}
		spans = append(spans, s)
	}
	return spans
}

func relaySpanAttr(s tracetest.SpanStub, key string) attribute.Value {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value
		}
	}
	return attribute.Value{}
}

// published sums messaging.batch.message_count over the spans with the given failure.
func published(spans []tracetest.SpanStub, failed bool) (messages int64) {
	for _, s := range spans {
		if (s.Status.Code == codes.Error) == failed {
			messages += relaySpanAttr(s, "messaging.batch.message_count").AsInt64()
		}
	}
	return messages
}

// TestRelayPublishIsTraced: each produce request of the relay is a kavach.relay.publish
// producer span, the root of its own trace, naming Kafka, the topic, the tenant and how many
// messages it sent; the counts of the spans add up to the events published. While the
// broker refuses produce requests, every publish span is marked failed, and once it is
// back the successful spans count each event once.
func TestRelayPublishIsTraced(t *testing.T) {
	exp := spantest.Record(t)
	const tenant = "traced-tenant"
	s := sqliteLedger(t)
	c := newBroker(t)
	var down atomic.Bool
	breakProduce(c, &down)
	r := startRelay(t, s, c, nil)
	reader := newTopicReader(t, c)

	events := newEvents([]string{tenant}, 250)
	appendEvents(t, s, events)
	reader.waitFor(t, events, 30*time.Second)
	waitUntil(t, 10*time.Second, "the relay saved its position", lagIs(t, r, 0))
	spans := publishSpans(t, exp, tenant)
	if len(spans) < 2 { // 250 events in batches of at most 200
		t.Fatalf("%d publish spans for 250 events in batches of 200", len(spans))
	}
	if n := published(spans, true); n != 0 {
		t.Fatalf("%d messages in failed publish spans without a failure", n)
	}
	if n := published(spans, false); n != int64(len(events)) {
		t.Fatalf("the publish spans count %d messages, want %d", n, len(events))
	}

	// The broker refuses every produce request: each attempt's span is marked failed.
	down.Store(true)
	exp.Reset()
	during := newEvents([]string{tenant}, 100)
	appendEvents(t, s, during)
	failures := r.Stats().Failures
	waitUntil(t, 20*time.Second, "the relay failed and retried twice", func() bool { return r.Stats().Failures >= failures+2 })
	spans = publishSpans(t, exp, tenant)
	if len(spans) < 2 {
		t.Fatalf("%d publish spans for two failed attempts", len(spans))
	}
	for _, s := range spans {
		if s.Status.Code != codes.Error || s.Status.Description == "" {
			t.Fatalf("a publish span while the broker refuses produce requests has status %+v, want an error", s.Status)
		}
	}

	// The broker is back: the successful spans count every event of the outage once.
	down.Store(false)
	reader.waitFor(t, slices.Concat(events, during), 30*time.Second)
	waitUntil(t, 10*time.Second, "the relay caught up", lagIs(t, r, 0))
	if n := published(publishSpans(t, exp, tenant), false); n != int64(len(during)) {
		t.Fatalf("the successful publish spans since the outage began count %d messages, want %d", n, len(during))
	}
}
