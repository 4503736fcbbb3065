package kavach_test

import (
	"context"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/policies"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
	"github.com/kavachos/kavach-go/tests/bench/latency"
)

// BenchmarkOPAFloor is stock OPA's evaluation floor on this machine, the yardstick the
// in-process targets are read against: Kavach's policy as a prepared query over OPA's
// in-memory store with its default options, holding 10k compiled agents, evaluated with a
// Go map as input for an agent that does not exist. No decision through OPA's evaluator
// costs less than this.
func BenchmarkOPAFloor(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	agents, grants := make(map[string]any, 10_000), make(map[string]any, 10_000)
	for i := range 10_000 {
		a, _ := dataset.NewAgent(i, now)
		agents[a.ID], grants[a.ID] = engine.Compile(a)
	}
	opts := []func(*rego.Rego){
		rego.Query(engine.Query),
		rego.Store(inmem.NewFromObject(map[string]any{"kavach": map[string]any{"agents": agents, "grants": grants}})),
	}
	mods, err := policies.Modules()
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range mods {
		opts = append(opts, rego.Module(m.Name, m.Source))
	}
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	input := map[string]any{
		"agent_id": dataset.UnknownAgentID, "action": "read", "resource": "mcp:github:repos",
		"segs": []any{"mcp", "github", "repos"}, "n": 3, "arguments": map[string]any{}, "now_ns": now.UnixNano(),
	}
	var h latency.Histogram
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		rs, err := q.Eval(ctx, rego.EvalInput(input))
		h.Record(time.Since(start))
		if err != nil || len(rs) != 1 {
			b.Fatal(rs, err)
		}
		if d, _ := rs[0].Expressions[0].Value.(map[string]any); d["code"] != "AGENT_NOT_FOUND" {
			b.Fatalf("got %v", rs[0].Expressions[0].Value)
		}
	}
	reportLatency(b, &h, "")
}
