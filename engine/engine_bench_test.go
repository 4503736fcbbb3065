package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
)

// benchAgent has ten permissions mixing exact and wildcard resources, time windows, IP
// allowlists and argument patterns — the shape the performance targets are stated for.
func benchAgent(i int, pattern string) *agent.Agent {
	office := &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"}}
	hours := &agent.Constraints{TimeWindows: []agent.TimeWindow{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "00:00", End: "24:00", Timezone: "Europe/Berlin"}}}
	args := &agent.Constraints{ArgumentPatterns: map[string]string{"branch": pattern}}
	perms := []agent.Permission{
		{Resource: "mcp:github:repos", Actions: []string{"read"}},
		{Resource: "mcp:github:*", Actions: []string{"read", "list"}, Constraints: office},
		{Resource: "mcp:github:*", Actions: []string{"push"}, Constraints: args},
		{Resource: "mcp:slack:*:post", Actions: []string{"call"}, Constraints: hours},
		{Resource: "mcp:jira:issues", Actions: []string{"read", "write"}},
		{Resource: "mcp:*:search", Actions: []string{"call"}},
		{Resource: "db:orders:*", Actions: []string{"select"}, Constraints: office},
		{Resource: "db:customers:*", Actions: []string{"select"}, Constraints: hours},
		{Resource: "files:reports:*", Actions: []string{"read"}},
		{Resource: "http:api.example.com:*", Actions: []string{"get"}, Constraints: args},
	}
	for j := range perms {
		perms[j].ID = fmt.Sprintf("perm_%d_%d", i, j)
	}
	return &agent.Agent{
		ID: fmt.Sprintf("agt_%08d", i), TenantID: "default", OwnerID: fmt.Sprintf("user_%d", i%1000),
		Name: "bench", Type: agent.TypeAutonomous, Status: agent.StatusActive, Permissions: perms,
	}
}

func loadedEngine(tb testing.TB, n int, pattern func(i int) string) *engine.Engine {
	tb.Helper()
	ctx := context.Background()
	e, err := engine.New(ctx, engine.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	agents := make([]*agent.Agent, n)
	for i := range agents {
		agents[i] = benchAgent(i, pattern(i))
	}
	if err := e.ReplaceAll(ctx, agents, nil); err != nil {
		tb.Fatal(err)
	}
	return e
}

// A Wednesday, 10:00 in Berlin.
var benchNow = time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)

// mix is a request mix: allowed and denied, matching on exact and wildcard grants, with
// and without constraints.
var mix = []struct {
	action, resource, ip string
	args                 map[string]any
	allowed              bool
}{
	{"read", "mcp:github:repos", "", nil, true},
	{"list", "mcp:github:repos:42", "10.1.2.3", nil, true},
	{"push", "mcp:github:repos:42", "", map[string]any{"branch": "dev-1"}, true},
	{"call", "mcp:slack:general:post", "", nil, true},
	{"select", "db:orders:2026", "203.0.113.9", nil, false},
	{"delete", "mcp:github:repos", "", nil, false},
	{"push", "mcp:github:repos:42", "", map[string]any{"branch": "main"}, false},
	{"call", "mcp:notion:search", "", nil, true},
}

func benchmarkDecide(b *testing.B, n int) {
	e := loadedEngine(b, n, func(int) string { return "dev-.*" })
	ctx := context.Background()
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		m := mix[i%len(mix)]
		r := e.Decide(ctx, engine.Request{
			AgentID: fmt.Sprintf("agt_%08d", (i*7919)%n), Action: m.action, Resource: m.resource,
			IP: m.ip, Arguments: m.args, Now: benchNow,
		})
		if r.Allowed != m.allowed {
			b.Fatalf("%+v: got %s (%v)", m, r.Code, r.Err)
		}
		i++
	}
}

func BenchmarkDecide10k(b *testing.B)  { benchmarkDecide(b, 10_000) }
func BenchmarkDecide100k(b *testing.B) { benchmarkDecide(b, 100_000) }

// BenchmarkDistinctArgumentPatterns decides over agents that each carry their own regular
// expression. Allocations per decision stay flat from 10 to 1,000 distinct patterns: each
// pattern is compiled once and then served from OPA's inter-query cache.
func BenchmarkDistinctArgumentPatterns(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("patterns=%d", n), func(b *testing.B) {
			e := loadedEngine(b, n, func(i int) string { return fmt.Sprintf("dev-%d-.*", i) })
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := i % n
				r := e.Decide(ctx, engine.Request{
					AgentID: fmt.Sprintf("agt_%08d", k), Action: "push", Resource: "mcp:github:repos:1",
					Arguments: map[string]any{"branch": fmt.Sprintf("dev-%d-x", k)}, Now: benchNow,
				})
				if !r.Allowed {
					b.Fatal(r.Code, r.Err)
				}
				i++
			}
		})
	}
}

// BenchmarkPut measures applying one agent's change among 10k agents.
func BenchmarkPut(b *testing.B) {
	e := loadedEngine(b, 10_000, func(int) string { return "dev-.*" })
	ctx := context.Background()
	a := benchAgent(42, "dev-.*")
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Put(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDistinctPatternsDoNotRecompile pins the benchmark's claim with allocation counts
// (not time): a decision over 1,000 distinct argument patterns allocates no more than one
// over 10, once each pattern has been seen.
func TestDistinctPatternsDoNotRecompile(t *testing.T) {
	allocs := func(n int) float64 {
		e := loadedEngine(t, n, func(i int) string { return fmt.Sprintf("(dev|feature)-%d-[a-z]+", i) })
		ctx := context.Background()
		decide := func(k int) {
			r := e.Decide(ctx, engine.Request{
				AgentID: fmt.Sprintf("agt_%08d", k), Action: "push", Resource: "mcp:github:repos:1",
				Arguments: map[string]any{"branch": fmt.Sprintf("dev-%d-x", k)}, Now: benchNow,
			})
			if !r.Allowed {
				t.Fatal(r.Code, r.Err)
			}
		}
		for k := range n { // first sight compiles each pattern once
			decide(k)
		}
		i := 0
		return testing.AllocsPerRun(2000, func() { decide(i % n); i++ })
	}
	few, many := allocs(10), allocs(1000)
	t.Logf("allocations per decision: %.0f with 10 patterns, %.0f with 1000", few, many)
	if many > few+5 {
		t.Fatalf("allocations grow with the number of patterns (%.0f vs %.0f): regexes are being recompiled", many, few)
	}
}

func TestDecideFailsClosedOnInternalErrors(t *testing.T) {
	e := loadedEngine(t, 1, func(int) string { return "x" })
	// A rate-limited grant needs the store; with none configured the obligation cannot be
	// carried out, and the call must be denied, not allowed.
	a := benchAgent(0, "x")
	a.Permissions[0].Constraints = &agent.Constraints{RateLimit: &agent.RateLimit{Max: 5, Window: agent.Duration(time.Minute)}}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("an internal failure panicked: %v", r)
			}
		}()
		if err := e.Put(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		r := e.Decide(context.Background(), engine.Request{AgentID: a.ID, Action: "read", Resource: "mcp:github:repos", Now: benchNow})
		if r.Allowed || r.Code != api.EngineError {
			t.Fatalf("want ENGINE_ERROR, got %+v", r)
		}
	}()
}
