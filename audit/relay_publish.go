package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/telemetry"
)

// lead publishes until ctx is done or the lease is lost.
func (r *Relay) lead(ctx context.Context, lease store.Lease) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lease.Lost():
			cancel()
		case <-ctx.Done():
		}
	}()

	r.setRunning(RelayLeading)
	r.leaderships.Add(1)
	// Another leader may have moved the positions while this relay stood by.
	r.positions, r.gaps = map[string]int64{}, map[string]gap{}
	r.log.Info("leading: publishing the audit ledger")
	failures := 0
	for {
		delay := r.cfg.PollInterval
		if err := r.publishPending(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			r.failed(err)
			delay = r.backoff(failures)
			failures++
			r.log.Warn("publishing audit events failed; retrying", "err", err, "attempt", failures, "backoff", delay)
		} else {
			failures = 0
			r.caughtUp()
		}
		if !wait(ctx, delay) {
			break
		}
	}
	select {
	case <-lease.Lost():
		r.log.Warn("lost the relay lease")
	default:
		r.log.Info("gave up the relay lease")
	}
}

// publishPending publishes every tenant's events after its position, one batch per tenant
// in turn so that a busy tenant does not hold the others back, until all have caught up.
func (r *Relay) publishPending(ctx context.Context) error {
	pending, err := r.ledger.AuditTenants(ctx)
	if err != nil {
		return fmt.Errorf("listing tenants: %w", err)
	}
	for len(pending) > 0 {
		var more []string
		for _, tenant := range pending {
			full, err := r.publishBatch(ctx, tenant)
			if err != nil {
				return fmt.Errorf("tenant %s: %w", tenant, err)
			}
			if full {
				more = append(more, tenant)
			}
		}
		pending = more
	}
	return nil
}

// publishBatch publishes the tenant's next batch and saves the new position. more reports
// that the tenant may have further events ready.
func (r *Relay) publishBatch(ctx context.Context, tenant string) (more bool, err error) {
	pos, ok := r.positions[tenant]
	if !ok {
		if pos, err = r.ledger.RelayPosition(ctx, r.position, tenant); err != nil {
			return false, err
		}
		r.positions[tenant] = pos
	}
	msgs, gapTo, err := r.read(ctx, tenant, pos)
	if err != nil || len(msgs) == 0 && gapTo == 0 {
		return false, err
	}
	if len(msgs) == 0 {
		skip, err := r.acceptGap(ctx, tenant, pos+1, gapTo)
		if err != nil || !skip {
			return false, err
		}
		return true, r.advance(ctx, tenant, gapTo-1) // past the hole: go on from there
	}
	if err := r.write(ctx, tenant, pos, msgs); err != nil {
		return false, err
	}
	return len(msgs) == r.cfg.BatchSize, nil
}

// write publishes msgs, the tenant's events pos+1, pos+2, … in order, and saves the
// position after each acknowledged part.
//
// The writer splits one write into produce requests of at most BatchSize messages and
// BatchBytes bytes per partition, and those succeed or fail on their own: a failed request
// would not stop the partition's next one, and its resend would land after later events.
// So each write here is small enough to be one request per partition, the next starts
// only once it is acknowledged, and a failure stops the batch: the next attempt resends
// from the first write that was not acknowledged, and one agent's events keep their order.
func (r *Relay) write(ctx context.Context, tenant string, pos int64, msgs []kafka.Message) error {
	// A write under way when the relay stops may finish and be saved, so that a clean
	// handover does not publish it twice.
	wctx, cancel := outlive(ctx, stopGrace)
	defer cancel()
	for len(msgs) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := r.requestLen(msgs)
		if err := r.produce(wctx, tenant, msgs[:n]); err != nil {
			return fmt.Errorf("writing to Kafka: %w", summarize(err))
		}
		r.wrote(n)
		pos += int64(n) // read returns events without holes in seq
		if err := r.advance(wctx, tenant, pos); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// produce writes msgs to Kafka in one produce request per partition, traced as one
// producer span of its own trace: a batch holds the events of many requests.
func (r *Relay) produce(ctx context.Context, tenant string, msgs []kafka.Message) error {
	ctx, span := telemetry.Start(ctx, "kavach.relay.publish", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindProducer))
	err := r.writer.WriteMessages(ctx, msgs...)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("messaging.system", "kafka"), attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", r.writer.Topic), attribute.Int("messaging.batch.message_count", len(msgs)),
			attribute.String("kavach.tenant_id", tenant))
		telemetry.Fail(span, err)
	}
	span.End()
	return err
}

// requestLen returns how many of msgs, from the first, the writer sends as at most one
// produce request per partition: no more than its BatchSize messages and BatchBytes bytes
// in all, whichever partitions they go to.
func (r *Relay) requestLen(msgs []kafka.Message) int {
	var size int64
	for i, m := range msgs {
		size += messageSize(m)
		if i == r.writer.BatchSize || i > 0 && size > r.writer.BatchBytes {
			return i
		}
	}
	return len(msgs)
}

func (r *Relay) advance(ctx context.Context, tenant string, seq int64) error {
	if err := r.ledger.SaveRelayPosition(ctx, r.position, tenant, seq); err != nil {
		return fmt.Errorf("saving the position: %w", err)
	}
	r.positions[tenant] = seq
	return nil
}

// stopGrace is how long a write may go on after the relay is stopped or loses its lease.
const stopGrace = 3 * time.Second

// outlive returns a context that ends grace after ctx does.
func outlive(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	octx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return octx, func() { stop(); cancel() }
}

// summarize shortens kafka-go's one-error-per-message report to a count and the first.
func summarize(err error) error {
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) {
		return err
	}
	for _, e := range werrs {
		if e != nil {
			return fmt.Errorf("%d of %d messages failed, first: %w", werrs.Count(), len(werrs), e)
		}
	}
	return err
}

// errHole stops a read at a seq that does not follow the one before.
var errHole = errors.New("hole in the chain")

// read encodes the tenant's next events after pos, stopping before any hole in seq:
// events are published strictly in chain order, and msgs[i] is event pos+1+i. If the very
// first event does not follow pos, it returns no messages and gapTo, that event's seq.
func (r *Relay) read(ctx context.Context, tenant string, pos int64) (msgs []kafka.Message, gapTo int64, err error) {
	next := pos + 1
	q := store.AuditQuery{TenantID: tenant, AfterSeq: pos, Limit: r.cfg.BatchSize}
	err = r.ledger.StreamAudit(ctx, q, func(e *store.AuditEvent) error {
		if e.Seq != next {
			if len(msgs) == 0 {
				gapTo = e.Seq
			}
			return errHole
		}
		m, err := encodeEvent(e)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		next = e.Seq + 1
		return nil
	})
	if errors.Is(err, errHole) {
		err = nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading the ledger: %w", err)
	}
	if len(msgs) > 0 || gapTo == 0 {
		delete(r.gaps, tenant)
	}
	return msgs, gapTo, nil
}

// gap is a hole in a tenant's chain, first seen at since.
type gap struct {
	from  int64
	since time.Time
}

// acceptGap decides whether to publish past a hole in the chain, seqs from..to-1. Retention
// explains a hole at the start of the chain. Otherwise events committed in seq order
// cannot leave holes, so one is waited out (gapWait) in case its events are not yet
// visible, then skipped with a warning: a deleted row must not stop the stream for good.
// `kavach audit verify` reports such a hole as tampering.
func (r *Relay) acceptGap(ctx context.Context, tenant string, from, to int64) (bool, error) {
	base, err := r.ledger.AuditBase(ctx, tenant)
	switch {
	case err == nil && base.Seq >= to:
		r.log.Info("skipping events removed by retention", "tenant", tenant, "from", from, "to", to-1)
		delete(r.gaps, tenant)
		return true, nil
	case err != nil && !store.IsNotFound(err):
		return false, fmt.Errorf("reading the chain base: %w", err)
	}
	g, seen := r.gaps[tenant]
	if !seen || g.from != from {
		r.gaps[tenant] = gap{from: from, since: time.Now()}
		r.log.Warn("hole in the audit chain; holding publishing back", "tenant", tenant, "from", from, "to", to-1)
		return false, nil
	}
	if time.Since(g.since) < r.gapWait {
		return false, nil
	}
	r.log.Error("events missing from the audit chain were never published", "tenant", tenant,
		"from", from, "to", to-1, "waited", r.gapWait)
	r.gapsSkipped.Add(1)
	delete(r.gaps, tenant)
	return true, nil
}
