package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/lifecycle"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/telemetry"
)

// failingAfter is how many commits in a row must fail before the pipeline reports ERROR: a
// single retried blip does not take an instance out of rotation.
const failingAfter = 3

// writer drains the queue in batches: whatever accumulated while the previous commit ran
// goes into the next one (group commit). When callers do not wait for their events
// (asynchronous mode) they arrive one at a time, so the writer also waits up to BatchWait
// for a batch to fill: a commit costs far more than an event in it.
func (p *Pipeline) writer(spooled []*store.AuditEvent) {
	defer close(p.writerEnd)
	if !p.replay(spooled) {
		// The spooled events are still in the spool file: add only what came since.
		p.spool(p.drainQueue())
		return
	}
	var wait *time.Timer
	if p.cfg.BatchWait > 0 {
		wait = time.NewTimer(time.Hour)
		wait.Stop()
	}
	batch := make([]item, 0, min(p.cfg.MaxBatch, 1024))
	for {
		select {
		case first := <-p.queue:
			batch = p.take(append(batch[:0], first))
			if wait != nil && len(batch) < p.cfg.MaxBatch {
				batch = p.fill(batch, wait)
			}
			if left := p.writeBatch(batch); left != nil {
				p.spool(append(left, p.drainQueue()...))
				return
			}
			clear(batch) // let the written events be collected
		case <-p.stop:
			// Drain what is left, then sign a final checkpoint.
			for len(p.queue) > 0 {
				if left := p.writeBatch(p.take(append(batch[:0], <-p.queue))); left != nil {
					p.spool(append(left, p.drainQueue()...))
					return
				}
			}
			p.checkpoint(p.abort) // a stop past its deadline does not wait on a hung connection
			return
		}
	}
}

// replay commits the events a previous Stop spooled, before anything new, and removes the
// spool file once all are in the ledger; it reports whether it got that far (an abort
// leaves the file as it was). Appends are idempotent, so events that were in fact
// committed before they were spooled are not written twice.
func (p *Pipeline) replay(events []*store.AuditEvent) bool {
	if len(events) == 0 {
		return true
	}
	p.log.Warn("audit: writing events spooled at the last stop", "events", len(events), "file", p.cfg.SpoolFile)
	for start := 0; start < len(events); start += p.cfg.MaxBatch {
		chunk := events[start:min(start+p.cfg.MaxBatch, len(events))]
		batch := make([]item, len(chunk))
		for i, e := range chunk {
			batch[i] = item{e: e}
		}
		if left := p.writeBatch(batch); left != nil {
			return false
		}
		p.replayed.Add(int64(len(chunk)))
	}
	removeSpool(p.cfg.SpoolFile, p.log)
	return true
}

// take adds to batch whatever is queued now, up to MaxBatch.
func (p *Pipeline) take(batch []item) []item {
	for len(batch) < p.cfg.MaxBatch {
		select {
		case it := <-p.queue:
			batch = append(batch, it)
		default:
			return batch
		}
	}
	return batch
}

// fill waits up to BatchWait for more events, until the batch is full or Stop is called.
// It sleeps rather than taking events as they arrive, so that a trickle of events wakes the
// writer once per batch, not once per event: the sender that fills the queue to a batch
// wakes it early (see send).
func (p *Pipeline) fill(batch []item, wait *time.Timer) []item {
	select {
	case <-p.full: // from a batch already taken
	default:
	}
	if len(p.queue) >= p.cfg.MaxBatch-len(batch) {
		return p.take(batch)
	}
	wait.Reset(p.cfg.BatchWait)
	defer wait.Stop()
	select {
	case <-wait.C:
	case <-p.full:
	case <-p.stop:
	}
	return p.take(batch)
}

// drainQueue empties the queue after the writer gave up; Stop has closed it to senders.
// Events their callers abandoned are left out: those callers were told they failed.
func (p *Pipeline) drainQueue() []item {
	var out []item
	for {
		select {
		case it := <-p.queue:
			if it.w == nil || it.w.state.CompareAndSwap(waitQueued, waitTaken) {
				out = append(out, it)
			}
		default:
			return out
		}
	}
}

// writeBatch commits a batch, retrying with back-off until it goes through. It returns nil
// when every event is settled, or, when Stop's deadline aborts the retries, the events not
// known to be committed.
//
// Each sync caller gets the ledger's verdict: nil once its event is committed, an error
// only when its event is known not to be (the attempt failed before COMMIT was sent), so
// that the answer a caller gives and the ledger never disagree. After an attempt that
// failed after COMMIT was sent its events are in doubt; the next attempt settles them,
// because appends are idempotent by event id.
func (p *Pipeline) writeBatch(batch []item) []item {
	pending := batch[:0:0]
	for _, it := range batch {
		if it.w == nil || it.w.state.CompareAndSwap(waitQueued, waitTaken) {
			pending = append(pending, it)
		}
	}
	backoff := 10 * time.Millisecond
	for attempt := 1; len(pending) > 0; attempt++ {
		err := p.append(pending)
		if err == nil {
			p.committed(pending)
			return nil
		}
		var ie *store.IntegrityError
		if errors.As(err, &ie) {
			pending = p.setAside(pending, ie)
			continue
		}
		p.failed(len(pending), attempt, err)
		if !errors.Is(err, store.ErrCommitUnknown) {
			pending = p.refuseSync(pending, err)
		} else {
			for _, it := range pending {
				if it.w != nil {
					it.w.inDoubt = true
				}
			}
		}
		select {
		case <-time.After(backoff):
		case <-p.abort.Done():
			return pending
		}
		backoff = min(backoff*2, time.Second) // a ledger back from an outage is written to within a second
	}
	return nil
}

// append makes one commit attempt, bounded by AttemptTimeout and ended by an abort.
func (p *Pipeline) append(batch []item) error {
	ctx, cancel := context.WithTimeout(p.abort, p.cfg.AttemptTimeout)
	defer cancel()
	events := make([]*store.AuditEvent, len(batch))
	for i, it := range batch {
		events[i] = it.e
	}
	ctx, span := startCommit(ctx, batch)
	err := p.cfg.Store.AppendAudit(ctx, events...)
	telemetry.Fail(span, err)
	span.End()
	return err
}

// startCommit opens the span of one commit attempt. A batch holds the events of many
// requests, so the span starts a trace of its own and links the span that recorded each
// event (up to the SDK's link limit).
func startCommit(ctx context.Context, batch []item) (context.Context, trace.Span) {
	if !telemetry.Enabled() {
		return ctx, trace.SpanFromContext(ctx)
	}
	links := make([]trace.Link, 0, min(len(batch), maxCommitLinks))
	for _, it := range batch {
		if it.from != nil && len(links) < maxCommitLinks {
			links = append(links, trace.Link{SpanContext: *it.from})
		}
	}
	return telemetry.Start(ctx, "kavach.audit.commit", trace.WithNewRoot(), trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("kavach.audit.events", len(batch))))
}

// maxCommitLinks is the SDK's default limit of links per span.
const maxCommitLinks = 128

// committed answers the batch's callers and counts it.
func (p *Pipeline) committed(batch []item) {
	p.written.Add(int64(len(batch)))
	p.batches.Add(1)
	p.mu.Lock()
	for _, it := range batch {
		p.touched[it.e.TenantID] = true
	}
	recovered := p.failures >= failingAfter
	p.failures = 0
	p.mu.Unlock()
	if recovered {
		p.log.Info("audit: ledger writes succeed again")
	}
	p.Set(lifecycle.OK, "")
	for _, it := range batch {
		if it.w != nil {
			it.w.done <- nil
		}
	}
}

// failed counts a failed attempt and, once failures persist, reports ERROR.
func (p *Pipeline) failed(events, attempt int, err error) {
	p.writeErrors.Add(1)
	p.mu.Lock()
	p.failures++
	failing := p.failures >= failingAfter
	p.mu.Unlock()
	p.log.Error("audit: ledger write failed; retrying", "events", events, "attempt", attempt, "error", err)
	if failing {
		p.Set(lifecycle.Error, "ledger writes are failing: "+err.Error())
	}
}

// refuseSync answers the sync callers whose events are known not to be committed, and
// drops those events: the callers fail closed, and the ledger will not hold them either.
// Events nobody waits for, and events in doubt, stay to be retried.
func (p *Pipeline) refuseSync(batch []item, err error) []item {
	keep := batch[:0]
	for _, it := range batch {
		if it.w != nil && !it.w.inDoubt {
			it.w.done <- err
			continue
		}
		keep = append(keep, it)
	}
	return keep
}

// setAside removes the event the ledger holds with other content from the batch. It is
// not written: it is logged in full, counted, kept in the spool file's rejected companion,
// and its sync caller fails closed.
func (p *Pipeline) setAside(batch []item, ie *store.IntegrityError) []item {
	keep := batch[:0]
	for _, it := range batch {
		if it.e.ID != ie.ID {
			keep = append(keep, it)
			continue
		}
		p.integrityErrors.Add(1)
		p.log.Error("audit: INTEGRITY: the ledger holds this event id with other content; the event is set aside",
			"event", it.e, "error", ie)
		writeRejected(p.cfg.SpoolFile, it.e, p.log)
		if it.w != nil {
			it.w.done <- fmt.Errorf("audit: %w", ie)
		}
	}
	return keep
}

// spool writes what the writer could not commit before Stop's deadline to the spool file,
// synced, and answers the sync callers still waiting: their events are durably accepted
// (the next start commits them), so they are told so; if the spool cannot be written they
// are told the event was not committed (those events, logged in full, may still have been).
func (p *Pipeline) spool(left []item) {
	if len(left) == 0 {
		return
	}
	events := make([]*store.AuditEvent, len(left))
	for i, it := range left {
		events[i] = it.e
	}
	err := writeSpool(p.cfg.SpoolFile, events)
	for _, it := range left {
		if it.w != nil {
			it.w.done <- err // nil once spooled
		}
	}
	if err != nil {
		for _, e := range events {
			p.log.Error("audit: event not committed at stop and not spooled", "event", e, "error", err)
		}
		return
	}
	p.spooled.Add(int64(len(events)))
	p.log.Error("audit: events not committed at stop were spooled; the next start writes them",
		"events", len(events), "file", p.cfg.SpoolFile)
}
