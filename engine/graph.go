package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// graph indexes the active delegations by both ends, so that a change to one agent or
// link recompiles exactly the agents below it.
type graph struct {
	byTo   map[string]map[string]*agent.Delegation
	byFrom map[string]map[string]*agent.Delegation
}

func newGraph() *graph {
	return &graph{byTo: map[string]map[string]*agent.Delegation{}, byFrom: map[string]map[string]*agent.Delegation{}}
}

func (gr *graph) put(d *agent.Delegation) {
	gr.remove(d.ID, d.FromAgentID, d.ToAgentID)
	if d.Status != agent.DelegationActive {
		return
	}
	add := func(m map[string]map[string]*agent.Delegation, k string) {
		if m[k] == nil {
			m[k] = map[string]*agent.Delegation{}
		}
		m[k][d.ID] = d
	}
	add(gr.byTo, d.ToAgentID)
	add(gr.byFrom, d.FromAgentID)
}

func (gr *graph) remove(id, from, to string) {
	delete(gr.byTo[to], id)
	delete(gr.byFrom[from], id)
}

// incoming returns the delegations an agent received, in id order.
func (gr *graph) incoming(id string) []*agent.Delegation {
	return sortedDelegations(gr.byTo[id])
}

func sortedDelegations(m map[string]*agent.Delegation) []*agent.Delegation {
	out := make([]*agent.Delegation, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *agent.Delegation) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return out
}

// descendants returns every agent reachable from id through active delegations, each once,
// nearest first.
func (gr *graph) descendants(id string) []string {
	seen := map[string]bool{id: true}
	var out []string
	queue := []string{id}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, d := range sortedDelegations(gr.byFrom[cur]) {
			if !seen[d.ToAgentID] {
				seen[d.ToAgentID] = true
				out = append(out, d.ToAgentID)
				queue = append(queue, d.ToAgentID)
			}
		}
	}
	return out
}

// reaches reports whether a chain of active delegations leads from one agent to another.
func (gr *graph) reaches(from, to string) bool {
	return from == to || slices.Contains(gr.descendants(from), to)
}

// agentSource fetches agents while compiling.
type agentSource func(ctx context.Context, id string) (*agent.Agent, error)

// resolver computes effective grants, remembering each agent's within one compile.
type resolver struct {
	gr       *graph
	get      agentSource
	memo     map[string][]grant
	visiting map[string]bool
}

func (e *Engine) newResolver(get agentSource) *resolver {
	return &resolver{gr: e.graph, get: get, memo: map[string][]grant{}, visiting: map[string]bool{}}
}

// effective returns an agent's own grants and the grants delegated to it that are still
// covered. A revoked or missing agent has none: that is how revocation cascades.
func (r *resolver) effective(ctx context.Context, a *agent.Agent) ([]grant, error) {
	if g, ok := r.memo[a.ID]; ok {
		return g, nil
	}
	if r.visiting[a.ID] { // a cycle: refused at delegate time, but never loop here
		return nil, nil
	}
	r.visiting[a.ID] = true
	defer delete(r.visiting, a.ID)
	grants := ownGrants(a)
	for _, d := range r.gr.incoming(a.ID) {
		parent, err := r.get(ctx, d.FromAgentID)
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("compile %s: parent %s: %w", a.ID, d.FromAgentID, err)
		}
		if parent.Status != agent.StatusActive {
			continue
		}
		pgs, err := r.effective(ctx, parent)
		if err != nil {
			return nil, err
		}
		var parentExpires int64
		if parent.ExpiresAt != nil {
			parentExpires = parent.ExpiresAt.UnixNano()
		}
		for _, dp := range d.Permissions {
			for _, pg := range pgs {
				if g, ok := derive(pg, d, dp, parentExpires, a.OwnerID); ok {
					grants = append(grants, g)
				}
			}
		}
	}
	r.memo[a.ID] = grants
	return grants, nil
}

// recompile rewrites the documents of the given agents, fetching each from src. An agent
// that no longer exists is dropped.
//
// All documents are computed first and then written in one transaction, so no decision
// sees part of a change: a revoked orchestrator and a still-allowed grandchild, say.
func (e *Engine) recompile(ctx context.Context, r *resolver, ids []string) error {
	batch := make(map[string]*compiledAgent, len(ids)) // nil: remove
	for _, id := range ids {
		a, err := r.get(ctx, id)
		if store.IsNotFound(err) {
			batch[id] = nil
			continue
		}
		if err != nil {
			return err
		}
		grants, err := r.effective(ctx, a)
		if err != nil {
			return err
		}
		batch[id] = compile(a, grants, e.shapes)
	}
	e.stats.docs.Add(int64(len(batch)))
	e.agents.apply(batch)
	return nil
}

// fromStore fetches agents from the engine's store.
func (e *Engine) fromStore(ctx context.Context, id string) (*agent.Agent, error) {
	if e.cfg.Store == nil {
		return nil, fmt.Errorf("agent %s: %w", id, store.ErrNotFound)
	}
	return e.cfg.Store.GetAgent(ctx, id)
}
