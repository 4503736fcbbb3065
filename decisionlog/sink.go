package decisionlog

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/lifecycle"
)

// Name is the sink's name among Kavach's long-running parts.
const Name = "decision.log"

// Stats are the sink's counters.
type Stats struct {
	// Buffered is how many events are held: waiting, or in an upload under way.
	Buffered int
	// Sent counts events the service accepted.
	Sent int64
	// Dropped counts events given up: the buffer was full (the oldest waiting event goes),
	// an event alone was larger than the upload limit or could not be encoded, or the sink
	// stopped before they could be sent.
	Dropped int64
	// Uploads counts requests the service accepted (2xx).
	Uploads int64
	// FailedUploads counts requests that failed: no answer, or a status other than 2xx.
	// Their events stay buffered and are sent again.
	FailedUploads int64
}

// Sink buffers decisions and uploads them as OPA decision-log events. Offer never waits
// for the network: it copies the decision into a bounded buffer and returns, and one
// goroutine uploads in the background. A nil *Sink takes every Offer and does nothing.
type Sink struct {
	lifecycle.Reporter
	cfg      Config
	endpoint string

	mu       sync.Mutex
	ring     []Decision // a circular buffer, grown on demand up to cfg.BufferEvents
	head, n  int
	inflight int // taken out by an upload under way; counted against the bound
	flushAt  int // a buffer this full is uploaded before the interval ends
	stopped  bool
	st       Stats

	nudge    chan struct{}
	stopping chan struct{}
	done     chan struct{}
	ctx      context.Context // cancelled when the stop deadline passes: cuts an upload short
	cancel   context.CancelFunc
	start    sync.Once
	stop     sync.Once
	started  bool
	lost     int // events still buffered when the stop deadline passed
}

var _ lifecycle.Component = (*Sink)(nil)

// New checks cfg and returns a sink; Start begins uploading. A URL that is not an absolute
// http(s) URL, or a setting out of range, is a *ConfigError.
func New(cfg Config) (*Sink, error) {
	cfg, endpoint, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Sink{
		cfg: cfg, endpoint: endpoint,
		flushAt:  max(1, cfg.BufferEvents/2),
		nudge:    make(chan struct{}, 1),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Name implements lifecycle.Component.
func (s *Sink) Name() string { return Name }

// Endpoint is where events are POSTed.
func (s *Sink) Endpoint() string { return s.endpoint }

// Start begins uploading in the background.
func (s *Sink) Start(context.Context) error {
	s.start.Do(func() {
		s.mu.Lock()
		s.started = true
		s.mu.Unlock()
		s.Set(lifecycle.OK, "")
		go s.run()
	})
	return nil
}

// Stop uploads what is buffered, retrying with back-off, until the buffer is empty or
// StopTimeout passes or ctx ends; whatever is left then is dropped and counted, and Stop
// says how much. Decisions offered after Stop are dropped and counted.
func (s *Sink) Stop(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StopTimeout)
	defer cancel()
	s.stop.Do(func() { close(s.stopping) })
	defer context.AfterFunc(ctx, s.cancel)()
	<-s.done // an upload under way ends at once when ctx does
	if s.lost > 0 {
		return fmt.Errorf("decision log: %d events not sent before the stop deadline were dropped: %w", s.lost, context.Cause(ctx))
	}
	return nil
}

// Offer hands one decision to the sink. It never blocks and allocates nothing: when the
// buffer is full the oldest waiting event is dropped and counted. The trace and span ids
// are read from ctx's span context, as OPA names the span of the request it decided for.
func (s *Sink) Offer(ctx context.Context, d Decision) {
	if s == nil {
		return
	}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		d.traceID, d.hasTraceID = sc.TraceID(), true
		d.spanID, d.hasSpanID = sc.SpanID(), sc.HasSpanID()
	}
	s.mu.Lock()
	nudge := s.push(&d)
	s.mu.Unlock()
	if nudge {
		select {
		case s.nudge <- struct{}{}:
		default:
		}
	}
}

// push adds d, dropping the oldest waiting event if the buffer is full; it reports whether
// the buffer has just filled to flushAt. Called under mu.
func (s *Sink) push(d *Decision) bool {
	if s.stopped {
		s.st.Dropped++
		return false
	}
	if s.n+s.inflight >= s.cfg.BufferEvents {
		if s.n == 0 { // everything held is in the upload under way: the newest goes
			s.st.Dropped++
			return false
		}
		s.ring[s.head] = Decision{}
		s.head = (s.head + 1) % len(s.ring)
		s.n--
		s.st.Dropped++
	}
	if s.n == len(s.ring) {
		s.grow()
	}
	s.ring[(s.head+s.n)%len(s.ring)] = *d
	s.n++
	return s.n == s.flushAt
}

// grow doubles the ring, up to the bound, keeping the order. Called under mu.
func (s *Sink) grow() {
	size := min(s.cfg.BufferEvents, max(64, 2*len(s.ring)))
	ring := make([]Decision, size)
	for i := range s.n {
		ring[i] = s.ring[(s.head+i)%len(s.ring)]
	}
	s.ring, s.head = ring, 0
}

// take moves up to limit of the oldest events into dst, which the upload then holds.
func (s *Sink) take(dst []Decision, limit int) []Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; limit > 0 && s.n > 0; limit-- {
		dst = append(dst, s.ring[s.head])
		s.ring[s.head] = Decision{}
		s.head = (s.head + 1) % len(s.ring)
		s.n--
		s.inflight++
	}
	return dst
}

// putBack returns events an upload could not deliver to the front of the buffer, in their
// order; they were counted against the bound all along, so they fit.
func (s *Sink) putBack(ds []Decision) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight -= len(ds)
	for len(s.ring)-s.n < len(ds) {
		s.grow()
	}
	for i := len(ds) - 1; i >= 0; i-- {
		s.head = (s.head - 1 + len(s.ring)) % len(s.ring)
		s.ring[s.head] = ds[i]
		s.n++
	}
}

// settle records the end of events an upload held: sent or dropped.
func (s *Sink) settle(sent, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight -= sent + dropped
	s.st.Sent += int64(sent)
	s.st.Dropped += int64(dropped)
	if sent > 0 {
		s.st.Uploads++
	}
}

func (s *Sink) failed() {
	s.mu.Lock()
	s.st.FailedUploads++
	s.mu.Unlock()
}

// Stats returns the counters, read together.
func (s *Sink) Stats() Stats {
	if s == nil {
		return Stats{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Buffered = s.n + s.inflight
	return st
}
