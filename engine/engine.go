// Package engine decides. It compiles agents and their grants into OPA data documents,
// evaluates Kavach's embedded Rego with one prepared query, and carries out the
// obligations the policy returns (rate-limit slots, approval uses) atomically in the store.
// Any internal error denies with ENGINE_ERROR.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/cache"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// Query is the one query every decision evaluates.
const Query = "data.kavach.authz.decision"

// DefaultPendingApprovalTTL is how long an approval request waits for a human.
const DefaultPendingApprovalTTL = 15 * time.Minute

// DefaultDecisionTimeout bounds one decision's policy evaluation when Config says nothing.
// A decision normally takes well under a millisecond; the deadline is there for the
// pathological ones (costly argument patterns on many permissions, a runaway custom rule).
const DefaultDecisionTimeout = time.Second

// regexCacheEntries bounds OPA's cache of compiled regular expressions and globs, which
// holds only 100 by default: more distinct argument patterns than that would recompile a
// regex on every call.
const regexCacheEntries = 100_000

// Config configures an Engine.
type Config struct {
	// Store persists rate-limit logs and approval requests.
	Store store.Store
	// PendingApprovalTTL is how long a new approval request stays pending (default 15m).
	PendingApprovalTTL time.Duration
	// DefaultApprovalGrantTTL is how long an approval lasts when neither the approver nor
	// the permission says (default 1h).
	DefaultApprovalGrantTTL time.Duration
	// OnApprovalRequested is called, outside any lock, for each new approval request.
	OnApprovalRequested func(*agent.ApprovalRequest)
	// Custom is the first revision of custom rules (from a policy directory); bundles
	// replace it later through Activate. Nil: the embedded policies alone.
	Custom *PolicySet
	// DecisionTimeout bounds the policy evaluation of one decision (default
	// DefaultDecisionTimeout, 1s). An evaluation past it is cancelled and the decision
	// fails closed with ENGINE_ERROR (ErrDeadline). A regular-expression match already
	// running finishes first: argument patterns are bounded at write time so that one
	// match is short.
	DecisionTimeout time.Duration
	// DecisionMemo is how many of the policy's answers are remembered for calls that
	// repeat (default DefaultDecisionMemo; negative: none). See memo.go for what an answer
	// depends on and how each is covered.
	DecisionMemo int
}

// Engine is safe for concurrent use.
type Engine struct {
	cfg    Config
	agents *agentSet
	shapes *shapes
	// active is the revision decisions evaluate; a swap is one pointer store, so a decision
	// never sees half of one.
	active atomic.Pointer[Revision]
	// shadow, when set, evaluates a candidate revision beside the active one.
	shadow atomic.Pointer[shadow]
	policy policyState
	cache  cache.InterQueryValueCache
	// evalOpts are the options every evaluation shares, made once.
	evalOpts []rego.EvalOption
	// opaEvalCaches makes evaluations use OPA's own caches instead of evalCaches: tests
	// compare the two.
	opaEvalCaches bool

	stats struct{ fullLoads, puts, removes, docs, rejections, memoHits atomic.Int64 }
	memo  *memo

	// wmu serialises changes: a change recompiles the agents below it, and two changes
	// must not interleave their recompiles.
	wmu   sync.Mutex
	graph *graph
}

// Stats returns counters of data changes.
func (e *Engine) Stats() Stats {
	return Stats{FullLoads: e.stats.fullLoads.Load(), Puts: e.stats.puts.Load(), Removes: e.stats.removes.Load(), Recompiled: e.stats.docs.Load(),
		MemoHits: e.stats.memoHits.Load()}
}

// New builds an engine with no agents loaded; call LoadAll, then Put and Remove as agents
// change.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.PendingApprovalTTL <= 0 {
		cfg.PendingApprovalTTL = DefaultPendingApprovalTTL
	}
	if cfg.DefaultApprovalGrantTTL <= 0 {
		cfg.DefaultApprovalGrantTTL = time.Hour
	}
	if cfg.DecisionTimeout <= 0 {
		cfg.DecisionTimeout = DefaultDecisionTimeout
	}
	if cfg.DecisionMemo == 0 {
		cfg.DecisionMemo = DefaultDecisionMemo
	}
	entries := regexCacheEntries
	set := &agentSet{agents: map[string]*compiledAgent{}}
	e := &Engine{
		cfg:    cfg,
		agents: set,
		shapes: newShapes(),
		cache: cache.NewInterQueryValueCache(ctx, &cache.Config{
			InterQueryBuiltinValueCache: cache.InterQueryBuiltinValueCacheConfig{MaxNumEntries: &entries},
		}),
		graph: newGraph(),
		memo:  newMemo(cfg.DecisionMemo),
	}
	e.evalOpts = []rego.EvalOption{rego.EvalInterQueryBuiltinValueCache(e.cache), rego.EvalMetrics(noMetrics)}
	if err := e.Activate(ctx, cfg.Custom); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return e, nil
}

// LoadAll compiles every agent and active delegation in the store, replacing what the
// engine held. Agents stream in and are compiled one at a time, so loading takes little
// more memory than the compiled agents themselves; agents that receive delegations are
// compiled again at the end, once every grant above them is known. Decisions see the old
// state until the new one is complete.
func (e *Engine) LoadAll(ctx context.Context) error {
	if e.cfg.Store == nil {
		return e.ReplaceAll(ctx, nil, nil)
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	gr := newGraph()
	if err := e.cfg.Store.AllDelegations(ctx, func(d *agent.Delegation) error {
		gr.put(d)
		return nil
	}); err != nil {
		return fmt.Errorf("engine: load delegations: %w", err)
	}
	// Agents are compiled on another goroutine than the one decoding them, in batches.
	all := map[string]*compiledAgent{}
	batches := make(chan []*agent.Agent, 4)
	compiled := make(chan struct{})
	go func() {
		defer close(compiled)
		for batch := range batches {
			for _, a := range batch {
				all[a.ID] = compileOwn(a, e.shapes)
			}
		}
	}()
	batch := make([]*agent.Agent, 0, 256)
	err := e.cfg.Store.AllAgents(ctx, func(a *agent.Agent) error {
		if batch = append(batch, a); len(batch) == cap(batch) {
			batches <- batch
			batch = make([]*agent.Agent, 0, 256)
		}
		return nil
	})
	batches <- batch
	close(batches)
	<-compiled
	if err != nil {
		return fmt.Errorf("engine: load agents: %w", err)
	}
	return e.install(ctx, gr, all, e.fromStore)
}

// ReplaceAll makes the given agents and delegations the engine's whole data.
func (e *Engine) ReplaceAll(ctx context.Context, agents []*agent.Agent, dels []*agent.Delegation) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	gr := newGraph()
	for _, d := range dels {
		gr.put(d)
	}
	byID := make(map[string]*agent.Agent, len(agents))
	all := make(map[string]*compiledAgent, len(agents))
	for _, a := range agents {
		byID[a.ID] = a
		all[a.ID] = compileOwn(a, e.shapes)
	}
	return e.install(ctx, gr, all, func(_ context.Context, id string) (*agent.Agent, error) {
		if a, ok := byID[id]; ok {
			return a, nil
		}
		return nil, fmt.Errorf("agent %s: %w", id, store.ErrNotFound)
	})
}

// install completes a full load: agents below a delegation get their delegated grants,
// then the whole set replaces the engine's. The caller holds wmu.
func (e *Engine) install(ctx context.Context, gr *graph, all map[string]*compiledAgent, get agentSource) error {
	r := &resolver{gr: gr, get: get, memo: map[string][]grant{}, visiting: map[string]bool{}}
	for id := range gr.byTo {
		if len(gr.byTo[id]) == 0 || all[id] == nil {
			continue
		}
		a, err := get(ctx, id)
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		grants, err := r.effective(ctx, a)
		if err != nil {
			return err
		}
		all[id] = compile(a, grants, e.shapes)
	}
	e.graph = gr
	e.agents.replace(all)
	e.stats.fullLoads.Add(1)
	return nil
}

// Put applies one agent's change: it and every agent below it in a delegation chain are
// recompiled, nothing else. The next decision sees the change.
//
// With a store configured, the agent is read back from it under the engine's write lock, so
// concurrent changes are applied in the order they were committed whatever order their
// Puts arrive in: the last Put always compiles the latest stored state.
func (e *Engine) Put(ctx context.Context, a *agent.Agent) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	e.stats.puts.Add(1)
	get := e.fromStore
	if e.cfg.Store == nil {
		get = func(ctx context.Context, id string) (*agent.Agent, error) {
			if id == a.ID {
				return a, nil
			}
			return e.fromStore(ctx, id)
		}
	}
	return e.recompile(ctx, e.newResolver(get), append([]string{a.ID}, e.graph.descendants(a.ID)...))
}

// Remove drops an agent; decisions for it become AGENT_NOT_FOUND, and grants delegated
// from it disappear below.
func (e *Engine) Remove(ctx context.Context, id string) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	e.stats.removes.Add(1)
	r := e.newResolver(func(ctx context.Context, x string) (*agent.Agent, error) {
		if x == id {
			return nil, fmt.Errorf("agent %s: %w", id, store.ErrNotFound)
		}
		return e.fromStore(ctx, x)
	})
	return e.recompile(ctx, r, append([]string{id}, e.graph.descendants(id)...))
}

// PutDelegation applies a new, changed or revoked delegation: its receiver and everything
// below it are recompiled.
//
// With a store configured, the delegation is read back from it under the write lock, for
// the same reason as in Put.
func (e *Engine) PutDelegation(ctx context.Context, d *agent.Delegation) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	e.stats.puts.Add(1)
	if e.cfg.Store != nil {
		fresh, err := e.cfg.Store.GetDelegation(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("engine: delegation %s: %w", d.ID, err)
		}
		d = fresh
	}
	below := append([]string{d.ToAgentID}, e.graph.descendants(d.ToAgentID)...)
	e.graph.put(d)
	// Agents that were below the receiver only through this link are still recompiled:
	// below was taken before the change.
	seen := map[string]bool{}
	var ids []string
	for _, id := range append(below, e.graph.descendants(d.ToAgentID)...) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return e.recompile(ctx, e.newResolver(e.fromStore), ids)
}

// Reaches reports whether an active delegation chain leads from one agent to another; a
// new delegation from→to would close a cycle if to reaches from.
func (e *Engine) Reaches(from, to string) bool {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	return e.graph.reaches(from, to)
}

// Grant is one of an agent's effective grants, as delegation needs to see it.
type Grant struct {
	ID        string
	Resource  string
	Actions   []string
	Via       []string
	Depth     int
	MaxDepth  int   // the smallest maxDepth along its chain; 0 for an own permission
	ExpiresNS int64 // when its chain ends; 0 for never
	// Constraints summarises the grant's constraints, every level of its chain; nil if none.
	Constraints *GrantConstraints
}

// EffectiveGrants returns an agent's own and delegated grants as of the stored state.
func (e *Engine) EffectiveGrants(ctx context.Context, a *agent.Agent) ([]Grant, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	gs, err := e.newResolver(e.fromStore).effective(ctx, a)
	if err != nil {
		return nil, err
	}
	out := make([]Grant, len(gs))
	for i, g := range gs {
		out[i] = Grant{ID: g.id, Resource: g.resource, Actions: g.actions, Via: g.via, Depth: g.depth, MaxDepth: g.maxDepth, ExpiresNS: g.expiresNS, Constraints: g.summary()}
	}
	return out, nil
}

// noMetrics spares every evaluation a fresh metrics registry (and a timer started on every
// data read): the engine reports its own metrics.
var noMetrics = metrics.NoOp()

// evaluate runs a revision's query (nil: the active one) on one input, under the decision
// deadline, and names the revision. An evaluation cut short says why: ErrCallerGone when the caller's own
// context ended, ErrDeadline when the deadline passed.
//
// The evaluation is cancelled through OPA's Cancel, set by a timer and by the caller's
// context, rather than by a context with a deadline: OPA would start a goroutine per
// evaluation to watch that context.
func (e *Engine) evaluate(ctx context.Context, rev *Revision, input ast.Value, opts ...rego.EvalOption) (rego.ResultSet, string, error) {
	if rev == nil {
		rev = e.active.Load()
	}
	rs, err := e.run(ctx, rev.query, input, opts...)
	return rs, rev.Name, err
}

// run evaluates a prepared query on one input under the decision deadline.
func (e *Engine) run(ctx context.Context, q rego.PreparedEvalQuery, input ast.Value, opts ...rego.EvalOption) (rego.ResultSet, error) {
	c := topdown.NewCancel()
	cancel := c.Cancel
	deadline := time.AfterFunc(e.cfg.DecisionTimeout, cancel)
	defer deadline.Stop()
	if ctx.Done() != nil { // a context that can end
		defer context.AfterFunc(ctx, cancel)()
	}
	// The value cache must be passed per evaluation: a prepared query does not carry the
	// one given to rego.New, and OPA then falls back to a global cache of 100 regexes.
	all := make([]rego.EvalOption, 0, len(opts)+len(e.evalOpts)+4) // sized: one allocation
	all = append(append(append(all, opts...), e.evalOpts...), rego.EvalParsedInput(input), rego.EvalExternalCancel(c))
	if !e.opaEvalCaches {
		caches := newEvalCaches()
		defer caches.release()
		all = append(all, rego.EvalVirtualCache(&caches.virtual), rego.EvalBaseCache(&caches.base))
	}
	rs, err := q.Eval(ctx, all...)
	if err != nil && cancelled(err) {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", ErrCallerGone, err)
		} else {
			err = fmt.Errorf("%w (%s): %w", ErrDeadline, e.cfg.DecisionTimeout, err)
		}
	}
	return rs, err
}

// cancelled reports whether err is OPA's cancellation of an evaluation or a context's end.
func cancelled(err error) bool {
	return topdown.IsCancel(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Stats counts how the engine's data changed: full loads versus single-agent updates.
type Stats struct {
	FullLoads int64
	Puts      int64
	Removes   int64
	// Recompiled counts agent documents rewritten by changes (not by full loads).
	Recompiled int64
	// MemoHits counts decisions whose policy answer was remembered, not evaluated.
	MemoHits int64
}
