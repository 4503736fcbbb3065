// Package engine decides. It compiles agents and their grants into OPA data documents,
// evaluates Kavach's embedded Rego with one prepared query, and carries out the
// obligations the policy returns (rate-limit slots, approval uses) atomically in the store.
// Any internal error denies with ENGINE_ERROR.
package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/cache"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/policies"
	"github.com/kavachos/kavach-go/store"
)

// Query is the one query every decision evaluates.
const Query = "data.kavach.authz.decision"

// DefaultPendingApprovalTTL is how long an approval request waits for a human.
const DefaultPendingApprovalTTL = 15 * time.Minute

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
	// ExtraModules are Rego modules loaded after the embedded policies (custom rules).
	ExtraModules []policies.Module
}

// Engine is safe for concurrent use.
type Engine struct {
	cfg   Config
	data  storage.Store
	mu    sync.RWMutex // guards query
	query rego.PreparedEvalQuery
	cache cache.InterQueryValueCache
	stats struct{ fullLoads, puts, removes atomic.Int64 }
}

// Stats returns counters of data changes.
func (e *Engine) Stats() Stats {
	return Stats{FullLoads: e.stats.fullLoads.Load(), Puts: e.stats.puts.Load(), Removes: e.stats.removes.Load()}
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
	entries := regexCacheEntries
	e := &Engine{
		cfg: cfg,
		data: inmem.NewFromObjectWithOpts(map[string]any{"kavach": map[string]any{"agents": map[string]any{}}},
			inmem.OptReturnASTValuesOnRead(true), inmem.OptRoundTripOnWrite(false)),
		cache: cache.NewInterQueryValueCache(ctx, &cache.Config{
			InterQueryBuiltinValueCache: cache.InterQueryBuiltinValueCacheConfig{MaxNumEntries: &entries},
		}),
	}
	if err := e.prepare(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) prepare(ctx context.Context) error {
	mods, err := policies.Modules()
	if err != nil {
		return fmt.Errorf("engine: embedded policies: %w", err)
	}
	opts := []func(*rego.Rego){
		rego.Query(Query),
		rego.Store(e.data),
	}
	for _, m := range append(mods, e.cfg.ExtraModules...) {
		opts = append(opts, rego.Module(m.Name, m.Source))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return fmt.Errorf("engine: compile policies: %w", err)
	}
	e.mu.Lock()
	e.query = pq
	e.mu.Unlock()
	return nil
}

// LoadAll compiles every agent in the store, replacing what the engine held.
func (e *Engine) LoadAll(ctx context.Context) error {
	agents := map[string]any{}
	err := e.cfg.Store.AllAgents(ctx, func(a *agent.Agent) error {
		agents[a.ID] = Compile(a)
		return nil
	})
	if err != nil {
		return fmt.Errorf("engine: load agents: %w", err)
	}
	return e.replace(ctx, agents)
}

// ReplaceAll compiles the given agents and makes them the engine's whole data.
func (e *Engine) ReplaceAll(ctx context.Context, agents []*agent.Agent) error {
	docs := make(map[string]any, len(agents))
	for _, a := range agents {
		docs[a.ID] = Compile(a)
	}
	return e.replace(ctx, docs)
}

func (e *Engine) replace(ctx context.Context, docs map[string]any) error {
	e.stats.fullLoads.Add(1)
	return storage.WriteOne(ctx, e.data, storage.ReplaceOp, storage.Path{"kavach", "agents"}, docs)
}

// Put compiles one agent and swaps it in: the next decision sees it, nothing else is
// recompiled.
func (e *Engine) Put(ctx context.Context, a *agent.Agent) error {
	e.stats.puts.Add(1)
	return storage.WriteOne(ctx, e.data, storage.AddOp, storage.Path{"kavach", "agents", a.ID}, Compile(a))
}

// Remove drops an agent; decisions for it become AGENT_NOT_FOUND.
func (e *Engine) Remove(ctx context.Context, id string) error {
	e.stats.removes.Add(1)
	err := storage.WriteOne(ctx, e.data, storage.RemoveOp, storage.Path{"kavach", "agents", id}, nil)
	if storage.IsNotFound(err) {
		return nil
	}
	return err
}

// evaluate runs the prepared query on one input.
func (e *Engine) evaluate(ctx context.Context, input ast.Value, opts ...rego.EvalOption) (rego.ResultSet, error) {
	e.mu.RLock()
	pq := e.query
	e.mu.RUnlock()
	// The value cache must be passed per evaluation: a prepared query does not carry the
	// one given to rego.New, and OPA then falls back to a global cache of 100 regexes.
	return pq.Eval(ctx, append(opts, rego.EvalParsedInput(input), rego.EvalInterQueryBuiltinValueCache(e.cache))...)
}

// Stats counts how the engine's data changed: full loads versus single-agent updates.
type Stats struct {
	FullLoads int64
	Puts      int64
	Removes   int64
}
