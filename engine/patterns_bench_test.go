package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/tests/bench/latency"
)

// hostileAgent holds perms permissions on the same resource, each with its own argument
// pattern on "branch" (pattern is a format taking the permission's index, so that no two
// patterns are the same and nothing is shared between them).
func hostileAgent(perms int, pattern string) *agent.Agent {
	ps := make([]agent.Permission, perms)
	for i := range ps {
		ps[i] = agent.Permission{ID: fmt.Sprintf("p%d", i), Resource: "mcp:github:*", Actions: []string{"push"},
			Constraints: &agent.Constraints{ArgumentPatterns: map[string]string{"branch": fmt.Sprintf(pattern, i)}}}
	}
	return &agent.Agent{ID: "agt_hostile", TenantID: "default", OwnerID: "mallory", Name: "hostile",
		Type: agent.TypeAutonomous, Status: agent.StatusActive, Permissions: ps}
}

// admittedWorst is the costliest argument pattern found that the write-time limits accept:
// a counted repetition beside an unbounded one over the same characters keeps about 200
// states alive per byte, and it compiles to about 400 of the 500 instructions allowed.
const admittedWorst = `[a-z%d]*[a-z]{1,100}[a-z]{0,100}`

// BenchmarkHostilePatterns measures the costliest authorize a user key can cause with
// argument patterns: every permission matches the call, so every pattern runs on the
// argument. "stored" agents are installed directly, as if written before patterns were
// checked at write time; "admitted" ones use the costliest pattern the write-time limits
// accept, on as many permissions as an agent may hold.
//
//	go test ./engine -run '^$' -bench HostilePatterns -benchtime 1x -count 3
func BenchmarkHostilePatterns(b *testing.B) {
	cases := []struct {
		name    string
		perms   int
		pattern string
		value   int
	}{
		{"stored/perms=1/value=65000", 1, `(?:[a-z%d]{1,1000})+`, 65000},
		{"stored/perms=8/value=65000", 8, `(?:[a-z%d]{1,1000})+`, 65000},
		{"stored/perms=256/value=65000", 256, `(?:[a-z%d]{1,1000})+`, 65000},
		{"stored/perms=8/value=4096", 8, `(?:[a-z%d]{1,1000})+`, 4096},
		{"admitted/perms=256/value=4096", 256, admittedWorst, 4096},
		{"admitted/perms=256/value=65000", 256, admittedWorst, 65000},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			e, err := engine.New(ctx, engine.Config{})
			if err != nil {
				b.Fatal(err)
			}
			a := hostileAgent(c.perms, c.pattern)
			if err := a.Validate(); strings.HasPrefix(c.name, "admitted") && err != nil {
				b.Fatalf("the write-time limits refuse it: %v", err)
			}
			if err := e.ReplaceAll(ctx, []*agent.Agent{a}, nil); err != nil {
				b.Fatal(err)
			}
			req := engine.Request{AgentID: "agt_hostile", Action: "push", Resource: "mcp:github:repos",
				Arguments: map[string]any{"branch": strings.Repeat("a", c.value)}, Now: benchNow, DryRun: true}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := latency.CPUTime()
			var last engine.Result
			for range b.N {
				last = e.Decide(ctx, req)
			}
			b.StopTimer()
			b.ReportMetric(float64((latency.CPUTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if last.Allowed {
				b.ReportMetric(1, "allowed")
			} else {
				b.ReportMetric(0, "allowed")
			}
			b.Logf("%s: %s", c.name, last.Code)
		})
	}
}
