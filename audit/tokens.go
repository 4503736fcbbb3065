package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/kavachos/kavach-go/store"
)

// Garbage tokens must not flood the ledger: per tenant and source address, the first
// invalid-token event of an interval is recorded as it is, and the rest are counted into
// one summary event written when the interval ends. Their decisions carry the summary's id.

const codeTokenInvalid = "TOKEN_INVALID"

type bucketKey struct{ tenant, source string }

type bucket struct {
	summary *store.AuditEvent // nil until a second event arrives
	count   int
	since   time.Time
}

// aggregate reports whether e was folded into a summary (and so must not be queued).
func (p *Pipeline) aggregate(e *store.AuditEvent) bool {
	if p.cfg.InvalidTokenInterval < 0 || e.Kind != KindDecision || e.Code != codeTokenInvalid {
		return false
	}
	key := bucketKey{e.TenantID, e.IP}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.buckets[key]
	if !ok {
		p.buckets[key] = &bucket{since: e.Time}
		return false
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
	return true
}

// flushBuckets writes a summary for every bucket that folded events, and starts a new
// interval.
func (p *Pipeline) flushBuckets() {
	p.mu.Lock()
	buckets := p.buckets
	p.buckets = map[bucketKey]*bucket{}
	p.mu.Unlock()
	for key, b := range buckets {
		if b.summary == nil {
			continue
		}
		s := b.summary
		s.Arguments = map[string]any{"count": b.count, "since": b.since.UTC().Format(time.RFC3339Nano)}
		s.Reason = fmt.Sprintf("%d more invalid tokens from %q since %s", b.count, key.source, b.since.UTC().Format(time.RFC3339))
		if err := p.enqueue(context.Background(), s); err != nil {
			p.log.Error("audit: invalid-token summary not recorded", "id", s.ID, "count", b.count, "error", err)
		}
	}
}
