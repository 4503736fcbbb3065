package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/policies"
)

// testRefs are references of the shapes the evaluator caches: rules, rules below others,
// function calls with string, number, boolean and composite arguments.
func testRefs() []ast.Ref {
	refs := []ast.Ref{
		ast.MustParseRef("data.kavach.authz.decision"),
		ast.MustParseRef("data.kavach.authz.agent"),
		ast.MustParseRef("data.kavach.authz"),
		ast.MustParseRef("data.kavach.custom.deny"),
	}
	args := []*ast.Term{ast.StringTerm("Europe/Berlin"), ast.StringTerm("UTC"), ast.IntNumberTerm(1), ast.FloatNumberTerm(1.5),
		ast.BooleanTerm(true), ast.ArrayTerm(ast.StringTerm("a")), ast.ObjectTerm(ast.Item(ast.StringTerm("k"), ast.IntNumberTerm(2)))}
	for _, a := range args {
		refs = append(refs, ast.MustParseRef("data.kavach.authz.minute_of_week").Append(a))
		refs = append(refs, ast.MustParseRef("data.kavach.authz.failed").Append(a).Append(ast.StringTerm("x")))
	}
	for i := range 60 { // enough for the index to be built
		refs = append(refs, ast.MustParseRef("data.kavach.custom.level").Append(ast.IntNumberTerm(i)))
	}
	return refs
}

// The pooled virtual cache answers every Get as OPA's own does, over random sequences of
// Push, Pop, Get and Put, with references reused from a buffer as the evaluator does.
func TestVirtualCacheBehavesAsOPAs(t *testing.T) {
	refs := testRefs()
	r := rand.New(rand.NewPCG(3, 5))
	for round := range 200 {
		want := topdown.NewVirtualCache()
		c := newEvalCaches()
		got := &c.virtual
		depth := 0
		buf := make(ast.Ref, 0, 8) // reused for every key, as the evaluator's cacheKey is
		for step := range 400 {
			ref := refs[r.IntN(len(refs))]
			if round%2 == 0 { // half the rounds on a few references, so that they meet again
				ref = refs[r.IntN(8)]
			}
			buf = append(buf[:0], ref...)
			switch op := r.IntN(20); {
			case op == 0:
				want.Push()
				got.Push()
				depth++
			case op == 1 && depth > 0:
				want.Pop()
				got.Pop()
				depth--
			case op < 10:
				var v *ast.Term
				if r.IntN(4) > 0 {
					v = ast.IntNumberTerm(r.IntN(100))
				}
				want.Put(buf, v)
				got.Put(buf, v)
			default:
				wv, wu := want.Get(buf)
				gv, gu := got.Get(buf)
				if wu != gu || (wv == nil) != (gv == nil) || (wv != nil && !wv.Equal(gv)) {
					t.Fatalf("round %d, step %d: Get(%v) = %v, %v; OPA's cache says %v, %v", round, step, ref, gv, gu, wv, wu)
				}
			}
			// Overwriting the buffer must not change what was put.
			for i := range buf {
				buf[i] = ast.StringTerm("clobbered")
			}
		}
		wk, gk := sortedRefs(want.Keys()), sortedRefs(got.Keys())
		if !slices.EqualFunc(wk, gk, func(a, b ast.Ref) bool { return a.Equal(b) }) {
			t.Fatalf("round %d: Keys() = %v, OPA's cache says %v", round, gk, wk)
		}
		c.release()
	}
}

func sortedRefs(refs []ast.Ref) []ast.Ref {
	slices.SortFunc(refs, func(a, b ast.Ref) int { return a.Compare(b) })
	return refs
}

// The base cache answers from the shortest cached prefix of a reference, looks below it
// into the document, and replaces what is stored below a document put over it.
func TestBaseCache(t *testing.T) {
	ref := ast.MustParseRef
	doc := ast.MustParseTerm(`{"a": {"b": 1}, "c": [10, 20]}`).Value
	var c baseCache
	if c.Get(ref("data.x")) != nil {
		t.Fatal("an empty cache answered")
	}
	c.Put(ref("data.x.y"), ast.String("deep"))
	c.Put(ref("data.x"), doc)
	if len(c.entries) != 1 {
		t.Fatalf("putting data.x kept what was below it: %d entries", len(c.entries))
	}
	for path, want := range map[string]ast.Value{
		"data.x":      doc,
		"data.x.a":    ast.MustParseTerm(`{"b": 1}`).Value,
		"data.x.a.b":  ast.Number("1"),
		"data.x.c[1]": ast.Number("20"),
		"data.x.a.z":  nil, // not in the document: a miss, read from storage
		"data.y":      nil,
		"data":        nil,
	} {
		if got := c.Get(ref(path)); (got == nil) != (want == nil) || (want != nil && got.Compare(want) != 0) {
			t.Errorf("Get(%s) = %v, want %v", path, got, want)
		}
	}
	// A document put below a cached one does not hide it: the shorter prefix answers.
	c.Put(ref("data.x.a"), ast.String("stale"))
	if got := c.Get(ref("data.x.a.b")); got == nil || got.Compare(ast.Number("1")) != 0 {
		t.Fatalf("Get(data.x.a.b) = %v after a put below data.x, want 1 from data.x", got)
	}
	// Beyond the slice's bound, documents go to the map and are still found, a shorter
	// reference in the map before a longer one in the slice.
	c.clear()
	for i := range maxBaseEntries + 10 {
		c.Put(ref("data.n").Append(ast.IntNumberTerm(i)).Append(ast.StringTerm("k")), ast.Boolean(true))
	}
	if len(c.entries) != maxBaseEntries || len(c.more) != 10 {
		t.Fatalf("%d entries in the slice and %d in the map after %d puts", len(c.entries), len(c.more), maxBaseEntries+10)
	}
	for _, i := range []int{0, maxBaseEntries - 1, maxBaseEntries, maxBaseEntries + 9} {
		if got := c.Get(ref("data.n").Append(ast.IntNumberTerm(i)).Append(ast.StringTerm("k"))); got == nil {
			t.Fatalf("document %d of %d was not kept", i, maxBaseEntries+10)
		}
	}
	c.Put(ref("data.n[0]"), ast.MustParseTerm(`{"k": false}`).Value)
	if got := c.Get(ref("data.n[0].k")); got == nil || got.Compare(ast.Boolean(false)) != 0 {
		t.Fatalf("Get(data.n[0].k) = %v, want false from data.n[0] in the map", got)
	}
	c.Put(ref("data.n[1].k"), ast.Boolean(false))
	if got := c.Get(ref("data.n[1].k")); got == nil || got.Compare(ast.Boolean(false)) != 0 {
		t.Fatalf("a document put again in map mode: %v, want false", got)
	}
	// Numbers equal in value but written apart are different storage paths, as in OPA.
	c.clear()
	c.Put(ast.Ref{ast.DefaultRootDocument, ast.StringTerm("obj"), ast.NumberTerm("1")}, ast.String("x"))
	if got := c.Get(ast.Ref{ast.DefaultRootDocument, ast.StringTerm("obj"), ast.NumberTerm("1.0")}); got != nil {
		t.Fatalf("data.obj[1.0] answered from data.obj[1]: %v", got)
	}
}

// Decisions evaluated with the pooled caches are those evaluated with OPA's own, including
// custom rules that memoise functions and evaluate rules under `with` (a frame pushed and
// popped in the virtual cache) and read another agent's document.
func TestEvalCachesGiveOPAsAnswers(t *testing.T) {
	ctx := context.Background()
	var agents []*agent.Agent
	for i := range 4 {
		agents = append(agents, &agent.Agent{ID: fmt.Sprintf("agt_%d", i), TenantID: agent.DefaultTenant, OwnerID: fmt.Sprintf("o%d", i%3),
			Status: agent.StatusActive, Permissions: []agent.Permission{
				{ID: "p1", Resource: "db:*", Actions: []string{"read", "write", "delete"}},
				{ID: "p2", Resource: "tool:x", Actions: []string{"*"}, Constraints: &agent.Constraints{
					IPAllowlist: []string{"10.0.0.0/8"},
					TimeWindows: []agent.TimeWindow{{Start: "09:00", End: "17:00", Timezone: "Europe/Berlin"}}}},
			}})
	}
	e, _ := memoEngine(t, agents, nil)
	const custom = `package kavach.custom

import rego.v1

tiers := {"db:orders": 2, "tool:x": 1}

level(r) := tiers[r]

level(r) := 0 if not tiers[r]

deny contains {"code": "POLICY_DENIED", "reason": msg} if {
	input.action == "delete"
	level(input.resource) >= 1
	msg := sprintf("deletes on tier %d", [level(input.resource)])
}

# A rule evaluated under with, whose value there differs from its value for the call: a
# frame that outlived its with would answer the later lookup with "write".
deny contains {"code": "POLICY_DENIED", "reason": "reads of what writes may not touch"} if {
	input.action == "read"
	writes_denied with input.action as "write"
	action_seen == "read"
}

action_seen := input.action

writes_denied if {
	action_seen == "write"
	level(input.resource) == 2
}

require_approval contains "another owner's agent" if {
	data.kavach.agents[input.agent_id].owner == "o2"
	data.kavach.agents.agt_0.owner == "o0"
}
`
	if err := e.Activate(ctx, &PolicySet{Revision: "custom", Modules: []policies.Module{{Name: "c.rego", Source: custom}}}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 4))
	base := time.Date(2026, 3, 4, 7, 0, 0, 0, time.UTC)
	codes := map[string]int{}
	for range 600 {
		req := Request{AgentID: fmt.Sprintf("agt_%d", r.IntN(5)), Action: []string{"read", "write", "delete", "run"}[r.IntN(4)],
			Resource: []string{"db:orders", "db:users", "tool:x"}[r.IntN(3)], IP: []string{"", "10.1.1.1", "192.0.2.1"}[r.IntN(3)],
			Now: base.Add(time.Duration(r.IntN(12*60)) * time.Minute)}
		e.opaEvalCaches = true
		want, _, errWant := e.evalPure(ctx, nil, req)
		e.opaEvalCaches = false
		got, _, errGot := e.evalPure(ctx, nil, req)
		if errWant != nil || errGot != nil {
			t.Fatalf("%+v: %v / %v", req, errWant, errGot)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v: pooled caches give %+v, OPA's %+v", req, got, want)
		}
		codes[fmt.Sprintf("%s %v %v", got.Code, got.Deny, got.CustomApproval)]++
	}
	// The calls reach every kind of answer the rules give.
	for _, k := range []string{"ALLOWED [] false", "ALLOWED [] true", "AGENT_NOT_FOUND [] false", "IP_NOT_ALLOWED [] false",
		"POLICY_DENIED [{POLICY_DENIED deletes on tier 2}] false", "POLICY_DENIED [{POLICY_DENIED deletes on tier 1}] false",
		"POLICY_DENIED [{POLICY_DENIED reads of what writes may not touch}] false"} {
		if codes[k] == 0 {
			t.Errorf("no call was answered %q: %v", k, codes)
		}
	}
}
