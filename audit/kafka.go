package audit

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kavachos/kavach-go/store"
)

// The Kafka message format, version kavach.audit.v1. Each message is one event:
//
//   - key: the event's agent id, or its tenant id for events without an agent. Keys are
//     spread over partitions with murmur2, as Java clients do, so one agent's events stay
//     in one partition, in seq order.
//   - value: {"schema":"kavach.audit.v1","event":{…}} where event is the store.AuditEvent
//     JSON (id, seq, time, tenantId, kind, agentId, …, prevHash, hash). Readers check
//     schema; a later incompatible format gets a new name.
//   - header kavach-event-id: the event id. Delivery is at least once: after a failure or
//     a change of leader an event may be published again, so consumers de-duplicate by
//     this id (or by tenantId and seq). Keeping each event's first delivery leaves one
//     agent's events in seq order, failures included.
//   - timestamp: the event's time.
//
// An event too large for one Kafka message (possible only with huge arguments or reason)
// is published without those fields and with "truncated": true; the ledger keeps it whole.
const (
	RelaySchema        = "kavach.audit.v1"
	RelayEventIDHeader = "kavach-event-id"
)

const (
	// maxBatchBytes stays under Kafka's default message.max.bytes (1 MiB + 12).
	maxBatchBytes = 1_000_000
	// maxValueBytes leaves room in a batch for the key, headers and record overhead.
	maxValueBytes = 900_000
)

// RelayMessage is the value of every message the relay publishes.
type RelayMessage struct {
	Schema    string            `json:"schema"`
	Event     *store.AuditEvent `json:"event"`
	Truncated bool              `json:"truncated,omitempty"`
}

func newKafkaWriter(cfg RelayConfig) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.Topic,
		Balancer:     kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    cfg.BatchSize,
		BatchBytes:   maxBatchBytes,
		BatchTimeout: 5 * time.Millisecond,
		// A few quick attempts inside the writer ride out a leader change; longer outages
		// are the relay's back-off, which Stop can interrupt.
		MaxAttempts:     3,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		Transport: &kafka.Transport{
			ClientID:    "kavach-audit-relay",
			DialTimeout: 5 * time.Second,
		},
	}
}

// messageSize bounds what the writer counts for a message against BatchBytes: key, value
// and headers with their length prefixes, and the record's fixed fields.
func messageSize(m kafka.Message) int64 {
	n := 32 + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// closeWriter flushes the writer and closes its connections.
func (r *Relay) closeWriter() error {
	err := r.writer.Close()
	if t, ok := r.writer.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
	return err
}

// encodeEvent turns an event into its message.
func encodeEvent(e *store.AuditEvent) (kafka.Message, error) {
	value, err := json.Marshal(RelayMessage{Schema: RelaySchema, Event: e})
	if err != nil {
		return kafka.Message{}, err
	}
	if len(value) > maxValueBytes {
		if value, err = encodeTruncated(e); err != nil {
			return kafka.Message{}, err
		}
	}
	key := e.AgentID
	if key == "" {
		key = e.TenantID
	}
	return kafka.Message{
		Key:     []byte(key),
		Value:   value,
		Headers: []kafka.Header{{Key: RelayEventIDHeader, Value: []byte(e.ID)}},
		Time:    e.Time,
	}, nil
}

// encodeTruncated keeps what identifies the event and its place in the chain, then, if
// that is still too large, only the identity.
func encodeTruncated(e *store.AuditEvent) ([]byte, error) {
	short := &store.AuditEvent{
		ID: e.ID, Seq: e.Seq, Time: e.Time, TenantID: e.TenantID, Kind: e.Kind, AgentID: e.AgentID,
		OwnerID: e.OwnerID, Actor: e.Actor, Action: e.Action, Resource: e.Resource, Result: e.Result,
		Code: e.Code, DurationNS: e.DurationNS, Grant: e.Grant, ApprovalID: e.ApprovalID,
		Revision: e.Revision, TraceID: e.TraceID, PrevHash: e.PrevHash, Hash: e.Hash,
	}
	for range 2 {
		value, err := json.Marshal(RelayMessage{Schema: RelaySchema, Event: short, Truncated: true})
		if err != nil || len(value) <= maxValueBytes {
			return value, err
		}
		short = &store.AuditEvent{ID: e.ID, Seq: e.Seq, Time: e.Time, TenantID: e.TenantID, Kind: e.Kind,
			PrevHash: e.PrevHash, Hash: e.Hash}
	}
	return nil, errors.New("audit: event " + e.ID + " cannot be published: even its identity is too large")
}
