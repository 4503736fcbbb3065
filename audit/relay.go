package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kavachos/kavach-go/store"
)

// RelayLease is the leadership a relay must hold to publish. Every instance sharing a
// database may run a relay; one of them leads and the others stand by to take over.
const RelayLease = "kavach.audit.relay"

// DefaultRelayTopic is the topic events go to when RelayConfig.Topic is empty.
const DefaultRelayTopic = "kavach.audit"

// RelayConfig configures the Kafka relay. Kafka is off unless Brokers are given.
type RelayConfig struct {
	// Brokers are the bootstrap addresses of the Kafka cluster, host:port.
	Brokers []string
	// Topic receives the events (default DefaultRelayTopic). The relay does not create it.
	Topic string
	// PollInterval is how often the leader looks for new events once it has caught up
	// (default 200ms).
	PollInterval time.Duration
	// BatchSize is how many events of one tenant are read and written at a time
	// (default 500).
	BatchSize int
	// LeaseInterval is how often a standby relay tries to take the lease (default 1s).
	LeaseInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential back-off after a failure, such as
	// an unreachable broker (defaults 100ms and 10s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Enabled reports whether Kafka is configured.
func (c RelayConfig) Enabled() bool { return len(c.Brokers) > 0 }

func (c RelayConfig) withDefaults() RelayConfig {
	if c.Topic == "" {
		c.Topic = DefaultRelayTopic
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 200 * time.Millisecond
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.LeaseInterval <= 0 {
		c.LeaseInterval = time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// RelayLedger is what the relay needs from the store: the ledger to read, and its own
// positions and lease.
type RelayLedger interface {
	AuditTenants(ctx context.Context) ([]string, error)
	AuditHead(ctx context.Context, tenantID string) (seq int64, hash string, err error)
	AuditBase(ctx context.Context, tenantID string) (*store.AuditBase, error)
	StreamAudit(ctx context.Context, q store.AuditQuery, fn func(*store.AuditEvent) error) error
	store.RelayStore
}

// RelayState is where a relay is in its life.
type RelayState int32

// A relay goes New → Standby ⇄ Leading → Stopping → Stopped.
const (
	RelayNew      RelayState = iota // created, not started
	RelayStandby                    // running; waiting for the lease
	RelayLeading                    // running; holds the lease and publishes
	RelayStopping                   // Stop was called; finishing the current write
	RelayStopped                    // done; cannot be started again
)

func (s RelayState) String() string {
	switch s {
	case RelayNew:
		return "new"
	case RelayStandby:
		return "standby"
	case RelayLeading:
		return "leading"
	case RelayStopping:
		return "stopping"
	case RelayStopped:
		return "stopped"
	}
	return fmt.Sprintf("RelayState(%d)", int32(s))
}

// RelayStats is a snapshot of what a relay has done since it was created.
type RelayStats struct {
	State       RelayState
	Published   int64 // events written to Kafka and acknowledged by all in-sync replicas
	Batches     int64 // successful writes
	Failures    int64 // failed attempts (read, write or save), each followed by a back-off
	GapsSkipped int64 // holes in a chain given up on after waiting (see acceptGap)
	Leaderships int64 // times this relay took the lease
	LastError   string
	LastErrorAt time.Time
	LastWriteAt time.Time
}

// Relay publishes the audit ledger to Kafka, at least once, each tenant's chain in seq
// order (so one agent's events keep their order within their partition).
// While it holds RelayLease it reads each tenant's chain after its stored position, writes
// a batch, and only then moves the position forward; a failure (broker unreachable, store
// error) is retried with capped exponential back-off from the same position, so nothing
// is lost and consumers de-duplicate by event id. A batch is written in parts that are each
// acknowledged before the next is sent, so a resend never lands after later events: by
// first delivery, one agent's events are in seq order. Positions are kept per topic: a relay
// pointed at a new topic publishes the whole ledger to it.
type Relay struct {
	ledger   RelayLedger
	cfg      RelayConfig
	log      *slog.Logger
	writer   *kafka.Writer
	position string        // the relay name positions are saved under
	gapWait  time.Duration // how long a hole in a chain holds publishing back

	mu     sync.Mutex
	state  RelayState
	cancel context.CancelFunc
	done   chan struct{}

	published, batches, failures, gapsSkipped, leaderships atomic.Int64
	statsMu                                                sync.Mutex
	lastErr                                                string
	lastErrAt, lastWriteAt                                 time.Time
	lastCaughtUpAt                                         time.Time // the last pass that published everything pending

	// Owned by the running goroutine while it leads.
	positions map[string]int64
	gaps      map[string]gap
}

// NewRelay returns a relay over the ledger; it does nothing until Start.
func NewRelay(ledger RelayLedger, cfg RelayConfig) (*Relay, error) {
	if !cfg.Enabled() {
		return nil, errors.New("audit: relay: no Kafka brokers configured")
	}
	if ledger == nil {
		return nil, errors.New("audit: relay: no store")
	}
	cfg = cfg.withDefaults()
	return &Relay{
		ledger: ledger, cfg: cfg, log: cfg.Logger.With("component", "audit.relay", "topic", cfg.Topic),
		writer:   newKafkaWriter(cfg),
		position: "kafka:" + cfg.Topic,
		gapWait:  10 * time.Second,
		state:    RelayNew,
	}, nil
}

// Start starts the relay in the background. ctx bounds nothing after Start returns; only
// its values are kept. A relay starts once.
func (r *Relay) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != RelayNew {
		return fmt.Errorf("audit: relay: cannot start a relay that is %s", r.state)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.state, r.cancel, r.done = RelayStandby, cancel, make(chan struct{})
	go r.run(runCtx)
	return nil
}

// Stop stops the relay and waits, until ctx is done, for it to give up the lease and
// close its writer. A write under way may finish and be saved first (for up to a few
// seconds), so a clean handover publishes nothing twice; whatever was not saved as
// published is published by the next leader. Stopping a stopped relay does nothing.
func (r *Relay) Stop(ctx context.Context) error {
	r.mu.Lock()
	if r.state == RelayNew {
		r.state = RelayStopped
		r.mu.Unlock()
		return r.closeWriter()
	}
	if r.state == RelayStandby || r.state == RelayLeading {
		r.state = RelayStopping
		r.cancel()
	}
	done := r.done
	r.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: relay: stop: %w", ctx.Err())
	}
}

// State returns the relay's current state.
func (r *Relay) State() RelayState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// setRunning moves a running relay between standby and leading; it never undoes Stop.
func (r *Relay) setRunning(s RelayState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == RelayStandby || r.state == RelayLeading {
		r.state = s
	}
}

// Stats returns a snapshot of the relay's counters.
func (r *Relay) Stats() RelayStats {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	return RelayStats{
		State: r.State(), Published: r.published.Load(), Batches: r.batches.Load(),
		Failures: r.failures.Load(), GapsSkipped: r.gapsSkipped.Load(), Leaderships: r.leaderships.Load(),
		LastError: r.lastErr, LastErrorAt: r.lastErrAt, LastWriteAt: r.lastWriteAt,
	}
}

// Lag returns how many committed events the relay's topic is still missing, summed over
// tenants. It reads the store, so every instance reports the cluster's lag, leader or not.
func (r *Relay) Lag(ctx context.Context) (int64, error) {
	tenants, err := r.ledger.AuditTenants(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: relay lag: %w", err)
	}
	var lag int64
	for _, t := range tenants {
		head, _, err := r.ledger.AuditHead(ctx, t)
		if err != nil {
			return 0, fmt.Errorf("audit: relay lag: %w", err)
		}
		pos, err := r.ledger.RelayPosition(ctx, r.position, t)
		if err != nil {
			return 0, fmt.Errorf("audit: relay lag: %w", err)
		}
		lag += max(0, head-pos)
	}
	return lag, nil
}

// run takes the lease whenever it can and publishes while it holds it, until stopped.
func (r *Relay) run(ctx context.Context) {
	defer func() {
		if err := r.closeWriter(); err != nil {
			r.log.Warn("closing the Kafka writer", "err", err)
		}
		r.mu.Lock()
		r.state = RelayStopped
		r.mu.Unlock()
		close(r.done)
	}()
	for ctx.Err() == nil {
		lease, ok, err := r.ledger.TryLead(ctx, RelayLease)
		switch {
		case err != nil && ctx.Err() == nil:
			r.failed(err)
			r.log.Warn("cannot try the relay lease", "err", err)
		case ok:
			r.lead(ctx, lease)
			lease.Release()
			r.setRunning(RelayStandby)
		}
		wait(ctx, r.cfg.LeaseInterval)
	}
}

func (r *Relay) failed(err error) {
	r.failures.Add(1)
	r.statsMu.Lock()
	r.lastErr, r.lastErrAt = err.Error(), time.Now()
	r.statsMu.Unlock()
}

func (r *Relay) caughtUp() {
	r.statsMu.Lock()
	r.lastCaughtUpAt = time.Now()
	r.statsMu.Unlock()
}

func (r *Relay) wrote(n int) {
	r.published.Add(int64(n))
	r.batches.Add(1)
	r.statsMu.Lock()
	r.lastWriteAt = time.Now()
	r.statsMu.Unlock()
}

// backoff returns the wait after the attempt-th consecutive failure (0-based).
func (r *Relay) backoff(attempt int) time.Duration {
	d := r.cfg.MinBackoff
	for range attempt {
		if d >= r.cfg.MaxBackoff/2 {
			return r.cfg.MaxBackoff
		}
		d *= 2
	}
	return min(d, r.cfg.MaxBackoff)
}

// wait waits for d or until ctx is done; it reports whether d elapsed.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
