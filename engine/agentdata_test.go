package engine

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/internal/decisiontable"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
)

// The fast path a full load takes must compile exactly what a change compiles.
func TestCompileOwnMatchesCompile(t *testing.T) {
	cases, err := decisiontable.Load()
	if err != nil {
		t.Fatal(err)
	}
	var agents []*agent.Agent
	for _, c := range cases {
		if a := c.Agent(); a != nil {
			agents = append(agents, a)
		}
	}
	for i := range 20 {
		a, _ := dataset.NewAgent(i, time.Now())
		agents = append(agents, a)
	}
	sh := newShapes()
	for _, a := range agents {
		fast, full := compileOwn(a, sh), compile(a, ownGrants(a), newShapes())
		if fast.header().Compare(full.header()) != 0 || fast.grantsDoc().Compare(full.grantsDoc()) != 0 {
			t.Fatalf("agent %s: compileOwn gives\n%v\ncompile gives\n%v", a.ID, fast.grantsDoc(), full.grantsDoc())
		}
	}
}

// Agents made from one template share their grants' shapes; different permissions never do,
// however their strings are split.
func TestShapesAreSharedAndDistinct(t *testing.T) {
	sh := newShapes()
	var kept []*compiledAgent
	for i := range 1000 {
		a, _ := dataset.NewAgent(i, time.Now())
		kept = append(kept, compileOwn(a, sh))
	}
	if n := sh.len(); n != len(dataset.Permissions()) {
		t.Fatalf("1000 agents from one template hold %d shapes, want %d", n, len(dataset.Permissions()))
	}
	if kept[0].grants[3].shape != kept[999].grants[3].shape {
		t.Fatal("equal permissions of two agents do not share a shape")
	}

	perm := func(args map[string]string) agent.Permission {
		return agent.Permission{ID: "p", Resource: "mcp:x", Actions: []string{"read"}, Constraints: &agent.Constraints{ArgumentPatterns: args}}
	}
	pairs := [][2]agent.Permission{
		{perm(map[string]string{"a": "b:c"}), perm(map[string]string{"a:b": "c"})},
		{{ID: "p", Resource: "mcp:x", Actions: []string{"read", "write"}}, {ID: "p", Resource: "mcp:x", Actions: []string{"readwrite"}}},
		{{ID: "p", Resource: "mcp:x:*", Actions: []string{"read"}}, {ID: "p", Resource: "mcp:x", Actions: []string{"*:read"}}},
	}
	for _, p := range pairs {
		if string(permissionKey(nil, p[0])) == string(permissionKey(nil, p[1])) {
			t.Fatalf("%+v and %+v share a key", p[0], p[1])
		}
	}
}

// A shape no agent uses any more is forgotten.
func TestUnusedShapesAreCollected(t *testing.T) {
	sh := newShapes()
	a, _ := dataset.NewAgent(0, time.Now())
	c := compileOwn(a, sh)
	if sh.len() == 0 {
		t.Fatal("no shapes interned")
	}
	runtime.KeepAlive(c)
	c = nil
	deadline := time.Now().Add(5 * time.Second)
	for sh.len() > 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := sh.len(); n != 0 {
		t.Fatalf("%d shapes left after their only agent was dropped", n)
	}
}

// oneAgentEngine is an engine holding one generated agent, with the embedded policies.
func oneAgentEngine(t *testing.T) (*Engine, *agent.Agent) {
	t.Helper()
	e, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := dataset.NewAgent(0, time.Now())
	if err := e.ReplaceAll(context.Background(), []*agent.Agent{a}, nil); err != nil {
		t.Fatal(err)
	}
	return e, a
}

// Reads of the served trees, whole and in part, agree with each other, and writes to them
// are refused.
func TestDataStoreServesAgents(t *testing.T) {
	ctx := context.Background()
	e, a := oneAgentEngine(t)
	data := newDataStore(e.agents)
	read := func(path ...string) ast.Value {
		t.Helper()
		v, err := storage.ReadOne(ctx, data, storage.Path(path))
		if err != nil {
			t.Fatalf("read %v: %v", path, err)
		}
		return v.(ast.Value)
	}
	whole := read("kavach", "grants")
	one := read("kavach", "grants", a.ID, "read")
	if got, _ := whole.Find(ast.Ref{ast.StringTerm(a.ID), ast.StringTerm("read")}); got.Compare(one) != 0 {
		t.Fatalf("the whole tree and one action disagree:\n%v\n%v", got, one)
	}
	if n := one.(*ast.Array).Len(); n != 4 {
		t.Fatalf("%d grants for read, want 4", n)
	}
	if v := read("kavach", "agents", a.ID, "owner"); v.Compare(ast.String(a.OwnerID)) != 0 {
		t.Fatalf("owner %v", v)
	}
	root := read()
	if _, err := root.Find(ast.MustParseRef("data.kavach.agents")[1:].Append(ast.StringTerm(a.ID))); err != nil {
		t.Fatalf("the root document lacks the agent: %v", err)
	}
	if _, err := storage.ReadOne(ctx, data, storage.Path{"kavach", "grants", a.ID, "delete"}); !storage.IsNotFound(err) {
		t.Fatalf("an action no grant names: %v", err)
	}
	if _, err := storage.ReadOne(ctx, data, storage.Path{"kavach", "agents", "agt_missing"}); !storage.IsNotFound(err) {
		t.Fatalf("a missing agent: %v", err)
	}
	if err := storage.WriteOne(ctx, data, storage.AddOp, storage.Path{"kavach", "agents", "x"}, map[string]any{}); err == nil {
		t.Fatal("a write to data.kavach.agents was accepted")
	}
}

// A decision reads an agent's header and its grants in two reads; both come from the same
// published version even while changes land between them. Version A is active and may
// only read; version B may write but is revoked. No decision may allow a write.
func TestConcurrentChangesNeverMixVersions(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	version := func(writable bool) *agent.Agent {
		a := &agent.Agent{ID: "agt_flip", TenantID: "t", OwnerID: "o", Status: agent.StatusActive,
			Permissions: []agent.Permission{{ID: "p", Resource: "mcp:x", Actions: []string{"read"}}}}
		if writable {
			a.Status = agent.StatusRevoked
			a.Permissions[0].Actions = []string{"write"}
		}
		return a
	}
	if err := e.Put(ctx, version(false)); err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := e.Put(ctx, version(i%2 == 0)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 3000 {
		r := e.Decide(ctx, Request{AgentID: "agt_flip", Action: "write", Resource: "mcp:x", Now: time.Now()})
		if r.Allowed {
			t.Fatalf("decision %d allowed a write: it mixed two versions of the agent", i)
		}
	}
}

// A window whose day names are all unknown holds on no day, not on every day (validation
// refuses such names; the compiler fails closed anyway).
func TestUnknownDaysNeverHold(t *testing.T) {
	w := compileWindow(agent.TimeWindow{Days: []string{"funday"}, Start: "00:00", End: "24:00", Timezone: "UTC"})
	if spans := w.spans(); len(spans) != 0 {
		t.Fatalf("spans %v, want none", spans)
	}
	every := compileWindow(agent.TimeWindow{Start: "00:00", End: "24:00", Timezone: "UTC"})
	if spans := mergeSpans(every.spans()); len(spans) != 1 || spans[0] != [2]int{0, minutesPerWeek} {
		t.Fatalf("a window on every day covers %v, want the whole week", spans)
	}
}
