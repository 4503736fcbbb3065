package audit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kavachos/kavach-go/store"
)

// Garbage tokens must not flood the ledger: per tenant and source address, the first
// invalid-token event of an interval is recorded as it is, and the rest are counted into
// one summary event written when the interval ends. Their decisions carry the summary's id.
//
// In sync mode a folded call is answered only once the summary that names it is committed
// (so a crash cannot lose evidence a caller was told about); the interval is then short by
// default, DefaultSyncInvalidTokenInterval, which is how long such a call may wait.

// DefaultSyncInvalidTokenInterval is the aggregation interval in sync mode.
const DefaultSyncInvalidTokenInterval = time.Second

const codeTokenInvalid = "TOKEN_INVALID"

type bucketKey struct{ tenant, source string }

type bucket struct {
	summary *store.AuditEvent // nil until a second event arrives
	count   int
	since   time.Time
	waiters []*waiter // sync mode: the folded calls waiting for the summary's commit
}

// aggregate reports whether e was folded into a summary (and so must not be queued), and
// in sync mode what its caller waits on.
func (p *Pipeline) aggregate(e *store.AuditEvent) (bool, *waiter) {
	if p.cfg.InvalidTokenInterval < 0 || e.Kind != KindDecision || e.Code != codeTokenInvalid {
		return false, nil
	}
	key := bucketKey{e.TenantID, e.IP}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return false, nil // queued on its own, or refused once stopped: never folded unseen
	}
	b, ok := p.buckets[key]
	if !ok {
		p.buckets[key] = &bucket{since: e.Time}
		return false, nil
	}
	if b.summary == nil {
		s := *e
		s.ID = NewID()
		s.Arguments = nil
		b.summary = &s
	}
	b.count++
	e.ID = b.summary.ID
	p.aggregated.Add(1)
	if !p.cfg.Sync {
		return true, nil
	}
	w := &waiter{done: make(chan error, 1)}
	w.state.Store(waitTaken) // a folded call cannot be abandoned: its summary will be written
	b.waiters = append(b.waiters, w)
	return true, w
}

// flushBuckets writes a summary for every bucket that folded events, and starts a new
// interval.
func (p *Pipeline) flushBuckets(ctx context.Context) {
	p.flushing.Lock() // the ticker's flush and Stop's never interleave
	defer p.flushing.Unlock()
	p.mu.Lock()
	buckets := p.buckets
	p.buckets = map[bucketKey]*bucket{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for key, b := range buckets {
		if b.summary == nil {
			continue
		}
		s := b.summary
		s.Arguments = map[string]any{"count": b.count, "since": b.since.UTC().Format(time.RFC3339Nano)}
		s.Reason = fmt.Sprintf("%d more invalid tokens from %q since %s", b.count, key.source, b.since.UTC().Format(time.RFC3339))
		wg.Go(func() {
			err := p.enqueue(ctx, s)
			if err != nil {
				p.log.Error("audit: invalid-token summary not recorded", "id", s.ID, "count", b.count, "error", err)
			}
			for _, w := range b.waiters {
				w.done <- err
			}
		})
	}
	wg.Wait()
}
