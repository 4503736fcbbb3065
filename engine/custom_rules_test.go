package engine_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/store/sqlite"
)

// customEngine holds one agent that may do anything, under the given custom rules.
func customEngine(t *testing.T, rules string) (*engine.Engine, error) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kavach.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(ctx, engine.Config{Store: s}) // approvals are looked up in the store
	if err != nil {
		t.Fatal(err)
	}
	a := &agent.Agent{ID: "agt_a", TenantID: "t", OwnerID: "o", Status: agent.StatusActive,
		Permissions: []agent.Permission{{ID: "p", Resource: "*", Actions: []string{"*"}}}}
	if err := e.ReplaceAll(ctx, []*agent.Agent{a}, nil); err != nil {
		t.Fatal(err)
	}
	src := "package kavach.custom\n\nimport rego.v1\n\n" + rules + "\n"
	return e, e.Activate(ctx, &engine.PolicySet{Revision: "r", Modules: []engine.Module{{Name: "custom.rego", Source: src}}})
}

func decideCustom(e *engine.Engine, action string) engine.Result {
	return e.Decide(context.Background(), engine.Request{AgentID: "agt_a", Action: action, Resource: "bank:acct:1", Now: time.Now(), DryRun: true})
}

// A require_approval rule gates the call whether it is a set, an array or an object of
// reasons; one that is neither never becomes active.
func TestCustomApprovalOfEveryShape(t *testing.T) {
	for name, rule := range map[string]string{
		"set":             `require_approval contains {"reason": "large"} if input.action == "transfer"`,
		"array":           `require_approval := [{"reason": "large"}] if input.action == "transfer"`,
		"partial object":  `require_approval["large"] := "large transfer" if input.action == "transfer"`,
		"complete object": `require_approval := {"reason": "large"} if input.action == "transfer"`,
	} {
		e, err := customEngine(t, rule)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r := decideCustom(e, "transfer"); r.Allowed || r.Code != api.ApprovalRequired {
			t.Errorf("%s: %s (%v), want APPROVAL_REQUIRED", name, r.Code, r.Err)
		}
		if r := decideCustom(e, "read"); !r.Allowed {
			t.Errorf("%s: an ungated call: %s (%v)", name, r.Code, r.Err)
		}
	}
	if _, err := customEngine(t, `require_approval := "large" if input.action == "transfer"`); err == nil {
		t.Error("a require_approval that is a string was activated")
	}
}

// Custom rules may read the served documents however they like: iterating, or indexing
// arrays directly (storage paths carry indexes as strings).
func TestCustomRulesReadServedDocuments(t *testing.T) {
	for name, cond := range map[string]string{
		"iterate":      `some g in data.kavach.grants[input.agent_id]["*"]; g.id == "p"`,
		"index":        `data.kavach.grants[input.agent_id]["*"][0].id == "p"`,
		"index a copy": `gs := data.kavach.grants[input.agent_id]["*"]; gs[0].id == "p"`,
		"header":       `data.kavach.agents[input.agent_id].owner == "o"`,
		"whole tree":   `data.kavach.agents[_].owner == "o"`,
	} {
		e, err := customEngine(t, `deny contains {"code": "POLICY_DENIED", "reason": "matched"} if { `+cond+` }`)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r := decideCustom(e, "read"); r.Code != api.PolicyDenied {
			t.Errorf("%s: %s (%v), want POLICY_DENIED", name, r.Code, r.Err)
		}
	}
	for name, cond := range map[string]string{
		"index out of range": `data.kavach.grants[input.agent_id]["*"][1].id == "p"`,
		"not an index":       `data.kavach.grants[input.agent_id]["*"]["01"]`,
	} {
		e, err := customEngine(t, `deny contains {"code": "POLICY_DENIED", "reason": "matched"} if { `+cond+` }`)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r := decideCustom(e, "read"); !r.Allowed {
			t.Errorf("%s: %s (%v), want ALLOWED", name, r.Code, r.Err)
		}
	}
}
