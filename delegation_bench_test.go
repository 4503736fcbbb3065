package kavach_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/tests/bench/latency"
)

// BenchmarkChangeAboveDescendants commits a change to an agent with 1,000 agents below it
// by delegation (each was delegated read on mcp:github:repos), among 10k others: its
// permission on mcp:github:repos gains or loses an IP allowlist. Timed from the commit
// until a decision for the last of its descendants sees the change; every descendant's
// document is recompiled.
func BenchmarkChangeAboveDescendants(b *testing.B) {
	p := populate(b, 10_000)
	k := openBench(b, p.db)
	defer k.Close()
	ctx := kavach.WithActor(context.Background(), adminActor)
	root := p.ids[0]
	var last string
	start := time.Now()
	for i := range 1_000 {
		c, err := k.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "user_0", Name: fmt.Sprintf("child-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.Delegations().Delegate(ctx, api.DelegateRequest{FromAgentID: root, ToAgentID: c.ID,
			Permissions: []agent.Permission{{Resource: "mcp:github:repos", Actions: []string{"read"}}}}); err != nil {
			b.Fatal(err)
		}
		last = c.ID
	}
	b.Logf("1,000 delegations in %s", time.Since(start).Round(time.Millisecond))

	req := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}
	cc := api.CallContext{IP: "203.0.113.9"} // outside the allowlist the change adds
	var visible latency.Histogram
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		restrict := i%2 == 0
		a, err := k.Store().UpdateAgent(ctx, root, func(a *agent.Agent) error {
			a.Permissions[0].Constraints = nil
			if restrict {
				a.Permissions[0].Constraints = &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}
			}
			a.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		if err := k.Engine().Put(ctx, a); err != nil {
			b.Fatal(err)
		}
		d, err := k.Authorize(ctx, last, req, cc)
		visible.Record(time.Since(committed))
		if err != nil || d.Allowed == restrict {
			b.Fatalf("after the change (restricted %v): %v %v", restrict, d, err)
		}
		i++
	}
	reportLatency(b, &visible, "")
}
