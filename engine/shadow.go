package engine

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kavachos/kavach-go/api"
)

// Shadow evaluation defaults.
const (
	DefaultShadowQueue = 1024
	// shadowExamples is how many recent disagreements the status keeps.
	shadowExamples = 20
	// shadowExampleEvery is how often one pair of codes may give an example.
	shadowExampleEvery = time.Second
)

// ShadowConfig configures shadow evaluation: a candidate revision evaluated beside the
// active one on a sample of real calls (dry runs are left out), off the request path. The
// shadow never changes an answer, charges no rate slot and opens no approval request.
type ShadowConfig struct {
	Revision *Revision
	// Sample is the fraction of calls evaluated, in (0, 1] (default 1: every call).
	Sample float64
	// QueueSize bounds the calls waiting for the shadow (default DefaultShadowQueue). A
	// call offered to a full queue is dropped and counted; the caller never waits.
	QueueSize int
	// OnDisagreement is called, on the shadow's goroutine, for each disagreement kept as an
	// example: at most one a second (of call time) for each pair of codes.
	OnDisagreement func(api.ShadowDisagreement)
}

type shadow struct {
	e     *Engine
	cfg   ShadowConfig
	queue chan shadowCall
	ctx   context.Context
	stop  context.CancelFunc
	done  chan struct{}
	stats struct{ evaluated, disagreed, dropped, errors atomic.Int64 }

	mu       sync.Mutex
	byCodes  map[[2]api.DecisionCode]int64
	lastSeen map[[2]api.DecisionCode]time.Time
	examples []api.ShadowDisagreement // newest first
}

// shadowCall is a decided call and the active revision's answer to it.
type shadowCall struct {
	req      Request
	active   *pure
	revision string
}

// StartShadow starts evaluating cfg.Revision beside the active revision, replacing any
// shadow already running. The returned function stops it; calls still queued are dropped.
func (e *Engine) StartShadow(cfg ShadowConfig) (stop func()) {
	if cfg.Sample <= 0 || cfg.Sample > 1 {
		cfg.Sample = 1
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultShadowQueue
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &shadow{e: e, cfg: cfg, queue: make(chan shadowCall, cfg.QueueSize), ctx: ctx, stop: cancel,
		done: make(chan struct{}), byCodes: map[[2]api.DecisionCode]int64{}, lastSeen: map[[2]api.DecisionCode]time.Time{}}
	if old := e.shadow.Swap(s); old != nil {
		old.close()
	}
	go s.run()
	return func() {
		e.shadow.CompareAndSwap(s, nil)
		s.close()
	}
}

func (s *shadow) close() {
	s.stop()
	<-s.done
}

// offer hands a decided call to the shadow without waiting: a full queue drops it.
func (s *shadow) offer(req Request, p *pure, revision string) {
	if req.DryRun || (s.cfg.Sample < 1 && rand.Float64() >= s.cfg.Sample) {
		return
	}
	select {
	case s.queue <- shadowCall{req: req, active: p, revision: revision}:
	default:
		s.stats.dropped.Add(1)
	}
}

func (s *shadow) run() {
	defer close(s.done)
	for {
		select {
		case <-s.ctx.Done():
			return
		case c := <-s.queue:
			s.judge(c)
		}
	}
}

// judge evaluates one call under the shadow revision and records a disagreement.
func (s *shadow) judge(c shadowCall) {
	p, _, err := s.e.pureUnder(s.ctx, s.cfg.Revision, c.req)
	if err != nil {
		s.stats.errors.Add(1)
		return
	}
	got := outcomeOf(p, c.req)
	s.stats.evaluated.Add(1)
	was := outcomeOf(c.active, c.req)
	if got.Code == was.Code {
		return
	}
	s.stats.disagreed.Add(1)
	pair := [2]api.DecisionCode{was.Code, got.Code}
	s.mu.Lock()
	s.byCodes[pair]++
	last, seen := s.lastSeen[pair]
	keep := !seen || c.req.Now.Sub(last) >= shadowExampleEvery || c.req.Now.Before(last)
	if keep {
		s.lastSeen[pair] = c.req.Now
	}
	s.mu.Unlock()
	if !keep {
		return
	}
	d := api.ShadowDisagreement{
		Time: c.req.Now.UTC(), TenantID: c.active.Agent.Tenant, OwnerID: c.active.Agent.Owner, AgentID: c.req.AgentID,
		Action: c.req.Action, Resource: c.req.Resource, ActiveRevision: c.revision,
		ActiveCode: was.Code, ShadowCode: got.Code, ShadowReason: got.Reason,
	}
	if rules, err := s.e.Rules(s.ctx, s.cfg.Revision, c.req); err == nil {
		for _, r := range rules {
			d.Rules = append(d.Rules, r.String())
		}
	}
	s.mu.Lock()
	s.examples = slices.Insert(s.examples, 0, d)
	if len(s.examples) > shadowExamples {
		s.examples = s.examples[:shadowExamples]
	}
	s.mu.Unlock()
	if s.cfg.OnDisagreement != nil {
		s.cfg.OnDisagreement(d)
	}
}

// ShadowStatus reports the shadow revision's counts and recent disagreements, or nil when
// none is running.
func (e *Engine) ShadowStatus() *api.ShadowStatus {
	s := e.shadow.Load()
	if s == nil {
		return nil
	}
	st := &api.ShadowStatus{
		Revision: s.cfg.Revision.Name, Sample: s.cfg.Sample, Evaluated: s.stats.evaluated.Load(),
		Disagreed: s.stats.disagreed.Load(), Dropped: s.stats.dropped.Load(), Errors: s.stats.errors.Load(),
		ByCodes: []api.ShadowCount{}, Examples: []api.ShadowDisagreement{},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for pair, n := range s.byCodes {
		st.ByCodes = append(st.ByCodes, api.ShadowCount{Active: pair[0], Shadow: pair[1], Count: n})
	}
	slices.SortFunc(st.ByCodes, func(a, b api.ShadowCount) int {
		return cmp.Or(cmp.Compare(a.Active, b.Active), cmp.Compare(a.Shadow, b.Shadow))
	})
	st.Examples = append(st.Examples, s.examples...)
	return st
}
