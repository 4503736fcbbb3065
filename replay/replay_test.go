package replay_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/replay"
	"github.com/kavachos/kavach-go/store"
)

// A replay keeps at most MaxGroups groups: changes past them are counted, not grouped,
// and the matrix still counts every one. The report is the same however the work is
// spread over workers.
func TestReplayBoundsItsGroups(t *testing.T) {
	ctx := context.Background()
	e, err := engine.New(ctx, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var agents []*agent.Agent
	for i := range 50 {
		agents = append(agents, &agent.Agent{ID: fmt.Sprintf("agt_%02d", i), TenantID: "t", OwnerID: "o", Status: agent.StatusActive,
			Permissions: []agent.Permission{{ID: fmt.Sprintf("p%d", i), Resource: "*", Actions: []string{"*"}}}})
	}
	if err := e.ReplaceAll(ctx, agents, nil); err != nil {
		t.Fatal(err)
	}
	cand, err := e.Prepare(ctx, &engine.PolicySet{Revision: "c", Modules: []engine.Module{{Name: "c.rego",
		Source: "package kavach.custom\n\nimport rego.v1\n\ndeny contains \"no deletes\" if input.action == \"delete\"\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	src := func(ctx context.Context, fn func(*store.AuditEvent) error) error {
		for i := range 400 {
			ev := &store.AuditEvent{ID: fmt.Sprint("ev", i), Seq: int64(i + 1), Time: time.Unix(1_800_000_000, 0), TenantID: "t",
				Kind: "decision", AgentID: agents[i%50].ID, Action: []string{"delete", "read"}[i/50%2], Resource: "db:x:y", Result: "allowed", Code: "ALLOWED"}
			if err := fn(ev); err != nil {
				return err
			}
		}
		return nil
	}
	var reports []*api.ReplayReport
	for _, workers := range []int{1, 3} {
		rep, err := (&replay.Replayer{Engine: e, Candidate: cand, MaxGroups: 30, Workers: workers, Top: 100}).Run(ctx, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		var grouped int64
		for _, g := range rep.Groups {
			grouped += g.Count
		}
		if rep.Changed != 200 || grouped+rep.Ungrouped != 200 || len(rep.Groups) > 30 || rep.Ungrouped == 0 {
			t.Fatalf("%d workers: %d changed, %d in %d groups, %d ungrouped", workers, rep.Changed, grouped, len(rep.Groups), rep.Ungrouped)
		}
		reports = append(reports, rep)
	}
	if one, three := reports[0], reports[1]; one.Changed != three.Changed || one.Matrix[0] != three.Matrix[0] {
		t.Fatalf("the workers changed the report: %+v / %+v", one.Matrix, three.Matrix)
	}
}
