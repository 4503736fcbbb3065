package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/engine"
)

// randomPattern draws a resource pattern over a small alphabet so that containment is
// often true: 1–4 segments of a, b, c or *, sometimes with a trailing *.
func randomPattern(r *rand.Rand) string {
	if r.IntN(20) == 0 {
		return "*"
	}
	segs := make([]string, 1+r.IntN(3))
	for i := range segs {
		segs[i] = []string{"a", "b", "c", "*"}[r.IntN(4)]
	}
	if r.IntN(3) == 0 {
		segs = append(segs, "*")
	}
	return strings.Join(segs, ":")
}

// instance draws a concrete resource matched by pattern.
func instance(r *rand.Rand, pattern string) string {
	segs := strings.Split(pattern, ":")
	var out []string
	for i, s := range segs {
		switch {
		case s == "*" && i == len(segs)-1:
			for range 1 + r.IntN(3) {
				out = append(out, []string{"a", "b", "c", "d"}[r.IntN(4)])
			}
		case s == "*":
			out = append(out, []string{"a", "b", "c", "d"}[r.IntN(4)])
		default:
			out = append(out, s)
		}
	}
	return strings.Join(out, ":")
}

// TestContainmentAgreesWithRego checks the Go containment used at delegate time against the
// Rego matcher used at decision time: whenever P is accepted as containing C, every
// resource C matches is allowed by a permission on P. It also checks that Go's
// MatchResource and the policy agree on random patterns and resources.
func TestContainmentAgreesWithRego(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 300
	patterns := make([]string, n)
	agents := make([]*agent.Agent, n)
	for i := range patterns {
		patterns[i] = randomPattern(r)
		agents[i] = &agent.Agent{ID: fmt.Sprintf("agt_%d", i), TenantID: "t", OwnerID: "o", Status: agent.StatusActive,
			Permissions: []agent.Permission{{ID: "p", Resource: patterns[i], Actions: []string{"x"}}}}
	}
	e, err := engine.New(context.Background(), engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ReplaceAll(context.Background(), agents, nil); err != nil {
		t.Fatal(err)
	}
	allowed := func(i int, resource string) bool {
		d := e.Decide(context.Background(), engine.Request{AgentID: agents[i].ID, Action: "x", Resource: resource, Now: benchNow})
		if d.Err != nil {
			t.Fatal(d.Err)
		}
		return d.Allowed
	}
	contained, checked := 0, 0
	for range 4000 {
		p, c := r.IntN(n), r.IntN(n)
		res := instance(r, patterns[c])
		if got, want := allowed(p, res), agent.MatchResource(patterns[p], res); got != want {
			t.Fatalf("Rego says %v, Go says %v for pattern %q and resource %q", got, want, patterns[p], res)
		}
		checked++
		if !agent.ContainsPattern(patterns[p], patterns[c]) {
			continue
		}
		contained++
		for range 5 {
			res := instance(r, patterns[c])
			if !allowed(p, res) {
				t.Fatalf("%q is accepted as containing %q, but %q (matched by the child) is denied by the parent", patterns[p], patterns[c], res)
			}
		}
	}
	if contained < 200 {
		t.Fatalf("only %d contained pairs were drawn: the generator no longer exercises containment", contained)
	}
	t.Logf("%d pairs checked, %d contained", checked, contained)
}

// chain builds root → 1 → … → depth agents, each link delegating mcp:github:*.
func chain(depth int) ([]*agent.Agent, []*agent.Delegation) {
	agents := []*agent.Agent{{ID: "agt_root", TenantID: "default", OwnerID: "o", Status: agent.StatusActive,
		Permissions: []agent.Permission{{ID: "perm_root", Resource: "mcp:github:*", Actions: []string{"read"}}}}}
	var dels []*agent.Delegation
	for i := 1; i <= depth; i++ {
		a := &agent.Agent{ID: fmt.Sprintf("agt_link%02d", i), TenantID: "default", OwnerID: "o", Status: agent.StatusActive}
		dels = append(dels, &agent.Delegation{
			ID: fmt.Sprintf("dlg_%02d", i), TenantID: "default", FromAgentID: agents[i-1].ID, ToAgentID: a.ID,
			Permissions: []agent.Permission{{ID: fmt.Sprintf("perm_link%02d", i), Resource: "mcp:github:*", Actions: []string{"read"}}},
			MaxDepth:    agent.MaxDelegationDepth, Status: agent.DelegationActive,
		})
		agents = append(agents, a)
	}
	return agents, dels
}

func chainEngine(tb testing.TB, depth, others int) *engine.Engine {
	agents, dels := chain(depth)
	for i := range others {
		agents = append(agents, benchAgent(i, "dev-.*"))
	}
	e, err := engine.New(context.Background(), engine.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.ReplaceAll(context.Background(), agents, dels); err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestChainOfTenDecides(t *testing.T) {
	e := chainEngine(t, 10, 0)
	d := e.Decide(context.Background(), engine.Request{AgentID: "agt_link10", Action: "read", Resource: "mcp:github:repos", Now: benchNow})
	if !d.Allowed || len(d.Via) != 10 || d.Via[0] != "dlg_01" || d.Via[9] != "dlg_10" {
		t.Fatalf("depth-10 chain: %+v", d)
	}
}

func benchmarkChain(b *testing.B, agentID string) {
	e := chainEngine(b, 10, 10_000)
	ctx := context.Background()
	req := engine.Request{AgentID: agentID, Action: "read", Resource: "mcp:github:repos", Now: benchNow}
	b.ReportAllocs()
	for b.Loop() {
		if d := e.Decide(ctx, req); !d.Allowed {
			b.Fatal(d.Code, d.Err)
		}
	}
}

// BenchmarkDirectGrant and BenchmarkChainDepth10 decide the same call among 10k other
// agents: by the root's own grant, and by an agent ten delegations below it.
func BenchmarkDirectGrant(b *testing.B)  { benchmarkChain(b, "agt_root") }
func BenchmarkChainDepth10(b *testing.B) { benchmarkChain(b, "agt_link10") }
