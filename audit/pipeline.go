package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kavachos/kavach-go/store"
)

// Config configures a Pipeline.
type Config struct {
	Store store.AuditStore
	// QueueSize bounds the events waiting to be written (default 10,000).
	QueueSize int
	// MaxBatch bounds the events written in one transaction (default 1,000).
	MaxBatch int
	// BatchWait is how long the writer, having found fewer than MaxBatch events queued,
	// waits for more before it commits. Zero takes the default: 2ms when asynchronous,
	// none in sync mode; negative never waits.
	BatchWait time.Duration
	// EnqueueTimeout is how long Record waits for room in a full queue before it fails,
	// and the caller fails closed (default 1s).
	EnqueueTimeout time.Duration
	// Sync makes Record return only after the event is committed.
	Sync bool
	// SyncTimeout bounds that wait (default 5s).
	SyncTimeout time.Duration
	// Mask lists top-level argument names whose values are replaced by "[masked]".
	Mask []string
	// InvalidTokenInterval aggregates invalid-token events per tenant and source address:
	// the first in each interval is recorded, the rest are counted into one summary event
	// at the interval's end (default 10s; negative turns aggregation off).
	InvalidTokenInterval time.Duration
	// Signer signs chain heads; nil writes no checkpoints.
	Signer *Signer
	// CheckpointInterval is how often touched chains are checkpointed (default 10s).
	CheckpointInterval time.Duration
	Logger             *slog.Logger
}

// DefaultBatchWait is how long an asynchronous pipeline's writer waits for a batch to
// fill. At a few thousand events a second it gathers tens of events into each commit, and
// an event waits no longer than this before its commit starts.
const DefaultBatchWait = 2 * time.Millisecond

// Stats are the pipeline's counters.
type Stats struct {
	Queued       int   // waiting now
	Written      int64 // committed
	Batches      int64
	FailedClosed int64 // refused because the queue stayed full, or a sync write failed
	WriteErrors  int64 // failed commits (retried)
	Aggregated   int64 // invalid-token events folded into summaries
	Checkpoints  int64
}

type item struct {
	e    *store.AuditEvent
	done chan error // non-nil in sync mode
}

// Pipeline is a Recorder that batches events into group commits. It is a long-running
// component: Start it once, Stop it to flush.
type Pipeline struct {
	cfg   Config
	log   *slog.Logger
	queue chan item
	stop  chan struct{}
	wg    sync.WaitGroup

	// sending is held shared by every enqueue and exclusively by Stop while it sets
	// stopped, so that no event can enter the queue after the writer's final drain.
	sending sync.RWMutex
	stopped atomic.Bool

	mu      sync.Mutex
	started bool
	buckets map[bucketKey]*bucket
	touched map[string]bool // tenants written since the last checkpoint

	written, batches, failedClosed, writeErrors, aggregated, checkpoints atomic.Int64
}

// NewPipeline returns a pipeline; call Start before Record.
func NewPipeline(cfg Config) *Pipeline {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10_000
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1_000
	}
	if cfg.BatchWait == 0 && !cfg.Sync {
		cfg.BatchWait = DefaultBatchWait
	}
	if cfg.EnqueueTimeout <= 0 {
		cfg.EnqueueTimeout = time.Second
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 5 * time.Second
	}
	if cfg.InvalidTokenInterval == 0 {
		cfg.InvalidTokenInterval = 10 * time.Second
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Pipeline{
		cfg: cfg, log: log, queue: make(chan item, cfg.QueueSize), stop: make(chan struct{}),
		buckets: map[bucketKey]*bucket{}, touched: map[string]bool{},
	}
}

// Start launches the writer and the timers.
func (p *Pipeline) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return
	}
	p.started = true
	p.wg.Add(2)
	go p.writer()
	go p.ticker()
}

// Stop stops accepting events, writes invalid-token summaries and everything queued, and
// signs a last checkpoint. It returns an error if ctx ends first; events still queued then
// are reported in the log.
func (p *Pipeline) Stop(ctx context.Context) error {
	p.mu.Lock()
	if !p.started || p.stopped.Load() {
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	p.flushBuckets()
	p.sending.Lock()
	stopped := p.stopped.Swap(true)
	p.sending.Unlock()
	if stopped {
		return nil
	}
	close(p.stop)
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		p.log.Error("audit: stopped before the queue was written", "queued", len(p.queue))
		return ctx.Err()
	}
}

// Stats returns the counters.
func (p *Pipeline) Stats() Stats {
	return Stats{
		Queued: len(p.queue), Written: p.written.Load(), Batches: p.batches.Load(),
		FailedClosed: p.failedClosed.Load(), WriteErrors: p.writeErrors.Load(),
		Aggregated: p.aggregated.Load(), Checkpoints: p.checkpoints.Load(),
	}
}

// ErrQueueFull is returned when the queue stayed full for the whole EnqueueTimeout.
var ErrQueueFull = errors.New("audit: queue full")

// ErrStopped is returned after Stop.
var ErrStopped = errors.New("audit: pipeline stopped")

// Record masks the event, assigns its id, and queues it (or folds it into an
// invalid-token summary). In sync mode it returns once the event is committed.
func (p *Pipeline) Record(ctx context.Context, e *store.AuditEvent) error {
	if e.ID == "" {
		e.ID = NewID()
	}
	e.Arguments = mask(e.Arguments, p.cfg.Mask)
	if p.aggregate(e) {
		return nil
	}
	return p.enqueue(ctx, e)
}

func (p *Pipeline) enqueue(ctx context.Context, e *store.AuditEvent) error {
	it := item{e: e}
	if p.cfg.Sync {
		it.done = make(chan error, 1)
	}
	if err := p.send(ctx, it); err != nil {
		return err
	}
	if it.done == nil {
		return nil
	}
	t := time.NewTimer(p.cfg.SyncTimeout)
	defer t.Stop()
	select {
	case err := <-it.done:
		if err != nil {
			p.failedClosed.Add(1)
		}
		return err
	case <-t.C:
		p.failedClosed.Add(1)
		return fmt.Errorf("audit: event %s not committed within %s", e.ID, p.cfg.SyncTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send puts it on the queue, waiting up to EnqueueTimeout for room.
func (p *Pipeline) send(ctx context.Context, it item) error {
	p.sending.RLock()
	defer p.sending.RUnlock()
	if p.stopped.Load() {
		return ErrStopped
	}
	select {
	case p.queue <- it:
		return nil
	default:
	}
	t := time.NewTimer(p.cfg.EnqueueTimeout)
	defer t.Stop()
	select {
	case p.queue <- it:
		return nil
	case <-t.C:
		p.failedClosed.Add(1)
		return ErrQueueFull
	case <-ctx.Done():
		p.failedClosed.Add(1)
		return ctx.Err()
	}
}

// writer drains the queue in batches: whatever accumulated while the previous commit ran
// goes into the next one (group commit). When callers do not wait for their events
// (asynchronous mode) they arrive one at a time, so the writer also waits up to BatchWait
// for a batch to fill: a commit costs far more than an event in it.
func (p *Pipeline) writer() {
	defer p.wg.Done()
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
			p.writeBatch(batch)
			clear(batch) // let the written events be collected
		case <-p.stop:
			// Drain what is left, then sign a final checkpoint.
			for len(p.queue) > 0 {
				p.writeBatch(p.take(append(batch[:0], <-p.queue)))
			}
			p.checkpoint()
			return
		}
	}
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
func (p *Pipeline) fill(batch []item, wait *time.Timer) []item {
	wait.Reset(p.cfg.BatchWait)
	defer wait.Stop()
	for len(batch) < p.cfg.MaxBatch {
		select {
		case it := <-p.queue:
			batch = p.take(append(batch, it))
		case <-wait.C:
			return batch
		case <-p.stop:
			return batch
		}
	}
	return batch
}

// writeBatch commits a batch, retrying with back-off until it goes through: events are
// never dropped. Sync callers are answered after the first failure and again on success.
func (p *Pipeline) writeBatch(batch []item) {
	events := make([]*store.AuditEvent, len(batch))
	for i, it := range batch {
		events[i] = it.e
	}
	backoff := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := p.cfg.Store.AppendAudit(context.Background(), events...)
		if err == nil {
			break
		}
		p.writeErrors.Add(1)
		p.log.Error("audit: ledger write failed; retrying", "events", len(events), "attempt", attempt+1, "error", err)
		if attempt == 0 {
			for i := range batch {
				if batch[i].done != nil {
					batch[i].done <- err
					batch[i].done = nil
				}
			}
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
	p.written.Add(int64(len(events)))
	p.batches.Add(1)
	p.mu.Lock()
	for _, e := range events {
		p.touched[e.TenantID] = true
	}
	p.mu.Unlock()
	for _, it := range batch {
		if it.done != nil {
			it.done <- nil
		}
	}
}

// Touch marks a tenant's chain as written by someone else (a management event committed
// with the change it describes), so that the next checkpoint covers it.
func (p *Pipeline) Touch(tenant string) {
	p.mu.Lock()
	p.touched[tenant] = true
	p.mu.Unlock()
}

// ticker flushes invalid-token summaries and signs checkpoints on their intervals.
func (p *Pipeline) ticker() {
	defer p.wg.Done()
	tokens := p.cfg.InvalidTokenInterval
	if tokens < 0 {
		tokens = time.Hour
	}
	flush := time.NewTicker(tokens)
	cp := time.NewTicker(p.cfg.CheckpointInterval)
	defer flush.Stop()
	defer cp.Stop()
	for {
		select {
		case <-flush.C:
			p.flushBuckets()
		case <-cp.C:
			p.checkpoint()
		case <-p.stop:
			return
		}
	}
}

// checkpoint signs the head of every chain written since the last checkpoint.
func (p *Pipeline) checkpoint() {
	if p.cfg.Signer == nil {
		return
	}
	p.mu.Lock()
	tenants := maps.Clone(p.touched)
	clear(p.touched)
	p.mu.Unlock()
	for tenant := range tenants {
		if err := p.cfg.Signer.Checkpoint(context.Background(), p.cfg.Store, tenant); err != nil {
			p.log.Error("audit: checkpoint failed", "tenant", tenant, "error", err)
			continue
		}
		p.checkpoints.Add(1)
	}
}
