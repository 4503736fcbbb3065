package engine

import (
	"context"
	"strconv"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// agentSet holds every compiled agent. Changes publish whole agents under a short lock, a
// batch at a time, so a change touching several agents (a cascading revocation) is seen
// whole or not at all.
type agentSet struct {
	mu     sync.RWMutex
	agents map[string]*compiledAgent
}

func (s *agentSet) get(id string) *compiledAgent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.agents[id]
}

// apply publishes a batch of changes; a nil agent is removed.
func (s *agentSet) apply(batch map[string]*compiledAgent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range batch {
		if c == nil {
			delete(s.agents, id)
		} else {
			s.agents[id] = c
		}
	}
}

func (s *agentSet) replace(all map[string]*compiledAgent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agents = all
}

// snapshot returns the agents in no particular order, for reads of the whole tree.
func (s *agentSet) snapshot() map[string]*compiledAgent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]*compiledAgent, len(s.agents))
	for id, c := range s.agents {
		out[id] = c
	}
	return out
}

// Paths of the two trees served from the agent set.
const (
	agentsRoot = "agents" // data.kavach.agents[id]: the agent's header
	grantsRoot = "grants" // data.kavach.grants[id][action]: its grants for an action
)

// dataStore is OPA's storage for the engine: data.kavach.agents and data.kavach.grants are
// served on demand from the compact agent set; everything else (custom rules' data,
// policies) lives in OPA's in-memory store. A decision reads one agent's header and its
// grants for one action, so a read costs the same with ten agents or a million, and a
// change costs one map write instead of an update of a tree holding every agent.
type dataStore struct {
	storage.Store
	set *agentSet
}

func newDataStore(set *agentSet) *dataStore {
	return &dataStore{
		Store: inmem.NewFromObjectWithOpts(map[string]any{"kavach": map[string]any{}},
			inmem.OptReturnASTValuesOnRead(true), inmem.OptRoundTripOnWrite(false)),
		set: set,
	}
}

// txn pins the agents a decision reads, so that an agent's header and its grants come from
// the same published version even if a change lands between the two reads. A decision
// reads one agent (custom rules may read more).
type txn struct {
	storage.Transaction
	id     string
	agent  *compiledAgent
	others map[string]*compiledAgent
}

func (d *dataStore) NewTransaction(ctx context.Context, params ...storage.TransactionParams) (storage.Transaction, error) {
	t, err := d.Store.NewTransaction(ctx, params...)
	if err != nil {
		return nil, err
	}
	return &txn{Transaction: t}, nil
}

func inner(t storage.Transaction) storage.Transaction {
	if x, ok := t.(*txn); ok {
		return x.Transaction
	}
	return t
}

func (d *dataStore) agent(t storage.Transaction, id string) *compiledAgent {
	x, ok := t.(*txn)
	if !ok {
		return d.set.get(id)
	}
	switch {
	case x.id == "":
		x.id, x.agent = id, d.set.get(id)
		return x.agent
	case x.id == id:
		return x.agent
	}
	if c, ok := x.others[id]; ok {
		return c
	}
	if x.others == nil {
		x.others = map[string]*compiledAgent{}
	}
	c := d.set.get(id)
	x.others[id] = c
	return c
}

func (d *dataStore) Read(ctx context.Context, t storage.Transaction, path storage.Path) (any, error) {
	if len(path) >= 2 && path[0] == "kavach" && (path[1] == agentsRoot || path[1] == grantsRoot) {
		return d.readAgents(t, path)
	}
	v, err := d.Store.Read(ctx, inner(t), path)
	if err != nil || len(path) > 1 || (len(path) == 1 && path[0] != "kavach") {
		return v, err
	}
	// The whole of data or of data.kavach: add the served trees.
	return d.withTrees(v, len(path) == 0)
}

func (d *dataStore) readAgents(t storage.Transaction, path storage.Path) (any, error) {
	if len(path) == 2 {
		return d.tree(path[1]), nil
	}
	c := d.agent(t, path[2])
	if c == nil {
		return nil, errNotFound
	}
	var v ast.Value
	var rest storage.Path
	switch {
	case path[1] == agentsRoot:
		v, rest = c.header(), path[3:]
	case len(path) == 3:
		v = c.grantsDoc()
	default:
		var ok bool
		if v, ok = c.grantsFor(path[3]); !ok {
			return nil, errNotFound
		}
		rest = path[4:]
	}
	return find(v, rest)
}

// find walks a served value down the rest of a storage path. Storage paths carry array
// indexes as strings, as OPA's in-memory store reads them.
func find(v ast.Value, rest storage.Path) (ast.Value, error) {
	for _, p := range rest {
		var next *ast.Term
		switch x := v.(type) {
		case ast.Object:
			next = x.Get(ast.StringTerm(p))
		case *ast.Array:
			if i, err := strconv.Atoi(p); err == nil && i >= 0 && i < x.Len() && strconv.Itoa(i) == p {
				next = x.Elem(i)
			}
		}
		if next == nil {
			return nil, errNotFound
		}
		v = next.Value
	}
	return v, nil
}

// tree builds a whole served tree. It is costly — every agent is rendered — and only a
// policy reading data.kavach.agents or data.kavach.grants as a whole needs it.
func (d *dataStore) tree(root string) ast.Value {
	all := d.set.snapshot()
	obj := ast.NewObjectWithCapacity(len(all))
	for id, c := range all {
		if root == agentsRoot {
			obj.Insert(ast.StringTerm(id), ast.NewTerm(c.header()))
		} else {
			obj.Insert(ast.StringTerm(id), ast.NewTerm(c.grantsDoc()))
		}
	}
	return obj
}

func (d *dataStore) withTrees(v any, root bool) (any, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return v, nil
	}
	kavach := obj
	if root {
		k, _ := obj.Get(ast.InternedTerm("kavach")).Value.(ast.Object)
		if k == nil {
			return v, nil
		}
		kavach = k
	}
	kavach = kavach.Copy()
	kavach.Insert(ast.InternedTerm(agentsRoot), ast.NewTerm(d.tree(agentsRoot)))
	kavach.Insert(ast.InternedTerm(grantsRoot), ast.NewTerm(d.tree(grantsRoot)))
	if !root {
		return kavach, nil
	}
	out := obj.Copy()
	out.Insert(ast.InternedTerm("kavach"), ast.NewTerm(kavach))
	return out, nil
}

func (d *dataStore) Write(ctx context.Context, t storage.Transaction, op storage.PatchOp, path storage.Path, value any) error {
	if len(path) >= 2 && path[0] == "kavach" && (path[1] == agentsRoot || path[1] == grantsRoot) {
		return &storage.Error{Code: storage.WritesNotSupportedErr, Message: "data.kavach." + path[1] + " is compiled by the engine"}
	}
	return d.Store.Write(ctx, inner(t), op, path, value)
}

func (d *dataStore) Commit(ctx context.Context, t storage.Transaction) error {
	return d.Store.Commit(ctx, inner(t))
}

func (d *dataStore) Abort(ctx context.Context, t storage.Transaction) {
	d.Store.Abort(ctx, inner(t))
}

func (d *dataStore) Truncate(ctx context.Context, t storage.Transaction, params storage.TransactionParams, it storage.Iterator) error {
	return d.Store.Truncate(ctx, inner(t), params, it)
}

func (d *dataStore) Register(ctx context.Context, t storage.Transaction, c storage.TriggerConfig) (storage.TriggerHandle, error) {
	return d.Store.Register(ctx, inner(t), c)
}

func (d *dataStore) ListPolicies(ctx context.Context, t storage.Transaction) ([]string, error) {
	return d.Store.ListPolicies(ctx, inner(t))
}

func (d *dataStore) GetPolicy(ctx context.Context, t storage.Transaction, id string) ([]byte, error) {
	return d.Store.GetPolicy(ctx, inner(t), id)
}

func (d *dataStore) UpsertPolicy(ctx context.Context, t storage.Transaction, id string, b []byte) error {
	return d.Store.UpsertPolicy(ctx, inner(t), id, b)
}

func (d *dataStore) DeletePolicy(ctx context.Context, t storage.Transaction, id string) error {
	return d.Store.DeletePolicy(ctx, inner(t), id)
}

// errNotFound is every served document's "not found". The evaluator takes it for
// undefined and never shows it, so it names no path: building one cost a decision for an
// unknown agent four allocations.
var errNotFound error = &storage.Error{Code: storage.NotFoundErr, Message: "document does not exist"}
