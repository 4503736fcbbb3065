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

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/lifecycle"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/telemetry"
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
	// AttemptTimeout bounds one commit attempt, so that a connection that hangs is given up
	// and retried (default 10s).
	AttemptTimeout time.Duration
	// SpoolFile is where Stop writes, durably, the events it could not commit before its
	// deadline, and where Start finds them to write first. Empty: such events are logged,
	// each in full, at ERROR level.
	SpoolFile string
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
	Queued          int   // waiting now
	Written         int64 // committed
	Batches         int64
	FailedClosed    int64 // refused because the queue stayed full, or a sync write failed
	WriteErrors     int64 // failed commits (retried)
	IntegrityErrors int64 // events whose id the ledger holds with other content (set aside)
	Aggregated      int64 // invalid-token events folded into summaries
	Checkpoints     int64
	Spooled         int64 // events Stop wrote to the spool file instead of the ledger
	Replayed        int64 // spooled events written to the ledger by Start
}

// item is a queued event and, in sync mode, the caller waiting for its verdict.
type item struct {
	e    *store.AuditEvent
	w    *waiter            // nil when nobody waits
	from *trace.SpanContext // the recording span, linked from its commit's span; only while tracing
}

// A waiter's states. A queued event's caller may give up (abandoned) and the writer then
// skips it; once the writer has taken it, the caller waits for the verdict, so that the
// answer it gives never disagrees with the ledger.
const (
	waitQueued int32 = iota
	waitTaken
	waitAbandoned
)

type waiter struct {
	done  chan error // buffered: the writer never blocks on it
	state atomic.Int32
	// inDoubt is set by the writer when an attempt holding the event failed after COMMIT
	// was sent: from then on only a commit settles it.
	inDoubt bool
}

// Pipeline is a Recorder that batches events into group commits. It is a long-running
// component: Start it once, Stop it to flush.
type Pipeline struct {
	lifecycle.Reporter
	cfg   Config
	log   *slog.Logger
	queue chan item
	// full wakes a writer waiting for its batch to fill once the queue holds a batch.
	full     chan struct{}
	fullSize int // min(MaxBatch, QueueSize)
	stop     chan struct{}
	// abort ends the writer's retries and its commit in flight once Stop's deadline has
	// passed; what is left then goes to the spool.
	abort     context.Context
	abortNow  context.CancelFunc
	writerEnd chan struct{}

	// sending is held shared by every enqueue and exclusively by Stop while it sets
	// stopped, so that no event can enter the queue after the writer's final drain.
	sending sync.RWMutex
	stopped atomic.Bool

	flushing sync.Mutex // held while invalid-token summaries are written

	mu       sync.Mutex
	started  bool
	stopping bool // set by Stop before its last flush: no more events are folded
	buckets  map[bucketKey]*bucket
	touched  map[string]bool // tenants written since the last checkpoint
	failures int             // consecutive failed commits

	written, batches, failedClosed, writeErrors, integrityErrors, aggregated, checkpoints, spooled, replayed atomic.Int64
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
		if cfg.Sync {
			cfg.InvalidTokenInterval = DefaultSyncInvalidTokenInterval
		}
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 10 * time.Second
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	abort, abortNow := context.WithCancel(context.Background())
	return &Pipeline{
		cfg: cfg, log: log, queue: make(chan item, cfg.QueueSize), stop: make(chan struct{}),
		full: make(chan struct{}, 1), fullSize: min(cfg.MaxBatch, cfg.QueueSize),
		abort: abort, abortNow: abortNow, writerEnd: make(chan struct{}),
		buckets: map[bucketKey]*bucket{}, touched: map[string]bool{},
	}
}

// Name names the component in readiness reports and metrics.
func (p *Pipeline) Name() string { return "audit.pipeline" }

// Start launches the writer and the timers. The writer first commits whatever a previous
// Stop left in the spool file.
func (p *Pipeline) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return nil
	}
	spooled, err := readSpool(p.cfg.SpoolFile)
	if err != nil {
		return err
	}
	p.started = true
	p.Set(lifecycle.OK, "")
	go p.writer(spooled)
	go p.ticker()
	return nil
}

// Stop stops accepting events, writes invalid-token summaries and everything queued, and
// signs a last checkpoint. If ctx ends first, it stops the writer and writes what was not
// committed to the spool file (or, without one, to the log) and returns an error saying so.
func (p *Pipeline) Stop(ctx context.Context) error {
	p.mu.Lock()
	if !p.started || p.stopped.Load() {
		p.mu.Unlock()
		return nil
	}
	p.stopping = true
	p.mu.Unlock()
	p.flushBuckets(ctx)
	p.sending.Lock()
	stopped := p.stopped.Swap(true)
	p.sending.Unlock()
	if stopped {
		return nil
	}
	close(p.stop)
	select {
	case <-p.writerEnd:
		p.abortNow()
		return nil
	case <-ctx.Done():
	}
	before := p.spooled.Load()
	p.abortNow()
	<-p.writerEnd // the writer gives up its retries and its commit in flight at once
	if n := p.spooled.Load() - before; n > 0 {
		return fmt.Errorf("audit: stopped before %d events were committed; they are in %s: %w", n, p.cfg.SpoolFile, ctx.Err())
	}
	return ctx.Err()
}

// Stats returns the counters.
func (p *Pipeline) Stats() Stats {
	return Stats{
		Queued: len(p.queue), Written: p.written.Load(), Batches: p.batches.Load(),
		FailedClosed: p.failedClosed.Load(), WriteErrors: p.writeErrors.Load(),
		IntegrityErrors: p.integrityErrors.Load(), Aggregated: p.aggregated.Load(),
		Checkpoints: p.checkpoints.Load(), Spooled: p.spooled.Load(), Replayed: p.replayed.Load(),
	}
}

// ErrQueueFull is returned when the queue stayed full for the whole EnqueueTimeout.
var ErrQueueFull = errors.New("audit: queue full")

// ErrStopped is returned after Stop.
var ErrStopped = errors.New("audit: pipeline stopped")

// Record masks the event, assigns its id, and queues it (or folds it into an
// invalid-token summary). In sync mode it returns once the event is committed.
func (p *Pipeline) Record(ctx context.Context, e *store.AuditEvent) error {
	ctx, span := telemetry.Start(ctx, "kavach.audit.record")
	err := p.record(ctx, e)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("kavach.audit_id", e.ID), attribute.Bool("kavach.audit.sync", p.cfg.Sync))
		telemetry.Failed(span, err, "the event was not recorded")
	}
	span.End()
	return err
}

func (p *Pipeline) record(ctx context.Context, e *store.AuditEvent) error {
	if e.ID == "" {
		e.ID = NewID()
	}
	e.Arguments = mask(e.Arguments, p.cfg.Mask)
	if folded, wait := p.aggregate(e); folded {
		if wait == nil {
			return nil
		}
		return p.await(ctx, e.ID, wait)
	}
	return p.enqueue(ctx, e)
}

func (p *Pipeline) enqueue(ctx context.Context, e *store.AuditEvent) error {
	it := item{e: e}
	if telemetry.Enabled() {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			it.from = &sc
		}
	}
	if p.cfg.Sync {
		it.w = &waiter{done: make(chan error, 1)}
	}
	if err := p.send(ctx, it); err != nil {
		return err
	}
	if it.w == nil {
		return nil
	}
	return p.await(ctx, e.ID, it.w)
}

// await waits for the writer's verdict on a sync event. After SyncTimeout the caller gives
// up, unless the writer has already taken the event: then only the verdict (or the caller
// leaving) ends the wait, because the event may be committed.
func (p *Pipeline) await(ctx context.Context, id string, w *waiter) error {
	t := time.NewTimer(p.cfg.SyncTimeout)
	defer t.Stop()
	for {
		select {
		case err := <-w.done:
			if err != nil {
				p.failedClosed.Add(1)
			}
			return err
		case <-t.C:
			if w.state.CompareAndSwap(waitQueued, waitAbandoned) {
				p.failedClosed.Add(1)
				return fmt.Errorf("audit: event %s not committed within %s", id, p.cfg.SyncTimeout)
			}
		case <-ctx.Done():
			// A queued event is withdrawn; one the writer holds may still be committed, but
			// its caller has gone and reads no answer.
			w.state.CompareAndSwap(waitQueued, waitAbandoned)
			return ctx.Err()
		}
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
		p.wakeIfFull()
		return nil
	default:
	}
	p.wakeIfFull() // the writer may be waiting for its batch to fill
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

// wakeIfFull wakes the writer if it waits for a batch that the queue now holds.
func (p *Pipeline) wakeIfFull() {
	if len(p.queue) >= p.fullSize {
		select {
		case p.full <- struct{}{}:
		default:
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
			p.flushBuckets(context.Background())
		case <-cp.C:
			p.checkpoint(context.Background())
		case <-p.stop:
			return
		}
	}
}

// checkpoint signs the head of every chain written since the last checkpoint.
func (p *Pipeline) checkpoint(ctx context.Context) {
	if p.cfg.Signer == nil {
		return
	}
	p.mu.Lock()
	tenants := maps.Clone(p.touched)
	clear(p.touched)
	p.mu.Unlock()
	for tenant := range tenants {
		if err := p.cfg.Signer.Checkpoint(ctx, p.cfg.Store, tenant); err != nil {
			p.log.Error("audit: checkpoint failed", "tenant", tenant, "error", err)
			continue
		}
		p.checkpoints.Add(1)
	}
}
