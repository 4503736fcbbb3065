package kavach_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/store"
)

// writeBundle builds a bundle file of custom rules in dir and returns its path.
func writeBundle(t *testing.T, dir, revision, rules string) string {
	t.Helper()
	src := filepath.Join(dir, "src-"+revision)
	if err := os.MkdirAll(filepath.Join(src, "kavach", "custom"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "kavach", "custom", "rules.rego"), []byte("package kavach.custom\n\nimport rego.v1\n\n"+rules), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, revision+".tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := engine.BuildBundle(src, revision, nil, f); err != nil {
		t.Fatal(err)
	}
	return path
}

// A shadow revision never changes an answer, takes no rate slot and opens no approval
// request: the same calls get the same answers from an instance without it. Its
// disagreements reach the policy status (examples only for callers who may read the
// agent) and the ledger, one event a second for each pair of codes.
func TestShadowRevisionBesideTheActiveOne(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	candidate := writeBundle(t, dir, "candidate", ruleB+"\n"+`require_approval contains "reads need a human" if input.action == "read"`+"\n")
	clock := &fixture{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	open := func(name string, shadow string) *kavach.Kavach {
		k, err := kavach.Open(ctx, kavach.Config{Database: "sqlite://" + filepath.Join(dir, name+".db"), Now: clock.clock,
			Policy: kavach.PolicyConfig{Shadow: shadow}, Audit: kavach.AuditConfig{Sync: true, SigningKey: testAuditKey}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		return k
	}
	plain, shadowed := open("plain", ""), open("shadowed", candidate)
	root := kavach.WithActor(ctx, api.Root)
	mk := func(k *kavach.Kavach, owner string) string {
		a, err := k.Agents().Create(root, api.CreateAgentRequest{OwnerID: owner, Name: "ops", Permissions: []agent.Permission{
			{Resource: "db:*", Actions: []string{"read", "delete"}, Constraints: &agent.Constraints{RateLimit: &agent.RateLimit{Max: 3, Window: agent.Duration(time.Minute)}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	agents := map[*kavach.Kavach][]string{plain: {mk(plain, "alice"), mk(plain, "bob")}, shadowed: {mk(shadowed, "alice"), mk(shadowed, "bob")}}

	calls := [][2]string{{"delete", "db:prod:orders"}, {"read", "db:prod:orders"}, {"delete", "db:dev:x"}, {"read", "db:dev:y"}}
	for round := range 10 {
		clock.advance(time.Second)
		for i := range 2 {
			who := (i + round) % 2 // alice first, then bob first: both give examples
			for _, c := range calls {
				var answers [2]*api.Decision
				for i, k := range []*kavach.Kavach{plain, shadowed} {
					d, err := k.Authorize(root, agents[k][who], api.AuthorizeRequest{Action: c[0], Resource: c[1]}, api.CallContext{})
					if err != nil {
						t.Fatal(err)
					}
					answers[i] = d
				}
				if answers[0].Code != answers[1].Code || answers[0].Allowed != answers[1].Allowed {
					t.Fatalf("round %d %v: %s without the shadow, %s with it", round, c, answers[0].Code, answers[1].Code)
				}
			}
		}
	}
	if l, err := shadowed.Approvals().List(root, api.ListApprovalsRequest{}); err != nil || len(l.Approvals) != 0 {
		t.Fatalf("the shadow opened approval requests: %v %v", l, err)
	}

	// 80 calls; the candidate denies deletes in prod and gates reads. The shadow compares
	// the policy's answers, before obligations: a call the rate limit stopped still counts.
	var st *api.ShadowStatus
	for range 1000 {
		s, err := shadowed.PolicyStatus(root)
		if err != nil {
			t.Fatal(err)
		}
		if st = s.Shadow; st != nil && st.Evaluated == 80 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st == nil || st.Evaluated != 80 || st.Revision != "candidate" || st.Dropped != 0 || st.Disagreed == 0 {
		t.Fatalf("shadow status %+v", st)
	}
	pairs := map[[2]api.DecisionCode]int64{}
	for _, c := range st.ByCodes {
		pairs[[2]api.DecisionCode{c.Active, c.Shadow}] = c.Count
	}
	if pairs[[2]api.DecisionCode{api.Allowed, api.PolicyDenied}] == 0 || pairs[[2]api.DecisionCode{api.Allowed, api.ApprovalRequired}] == 0 {
		t.Fatalf("disagreements %+v", st.ByCodes)
	}
	// Examples: one a second of call time for each pair; bob sees only his own.
	bob := kavach.WithActor(ctx, api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "bob"})
	bs, err := shadowed.PolicyStatus(bob)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs.Shadow.Examples) == 0 || len(bs.Shadow.Examples) >= len(st.Examples) {
		t.Fatalf("bob sees %d of %d examples", len(bs.Shadow.Examples), len(st.Examples))
	}
	for _, e := range bs.Shadow.Examples {
		if e.OwnerID != "bob" {
			t.Fatalf("bob sees %+v", e)
		}
	}
	var events []*store.AuditEvent
	for range 1000 { // written by the shadow's goroutine, through the ledger's queue
		events, err = store.CollectAudit(ctx, shadowed.Store(), store.AuditQuery{TenantID: agent.DefaultTenant, Action: kavach.ActionShadowDisagreement})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == len(st.Examples) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(events) != len(st.Examples) || len(events) >= int(st.Disagreed) {
		t.Fatalf("%d disagreement events for %d examples and %d disagreements", len(events), len(st.Examples), st.Disagreed)
	}
	e := events[0]
	if e.Actor != "policy.shadow" || e.Arguments["shadowRevision"] != "candidate" || e.Arguments["activeCode"] != "ALLOWED" || e.AgentID == "" {
		t.Fatalf("event %+v", e)
	}
	if rep, err := shadowed.Audit().Verify(root, agent.DefaultTenant); err != nil || !rep.OK {
		t.Fatalf("the chain with disagreement events: %+v %v", rep, err)
	}
	if st, _ := plain.PolicyStatus(root); st.Shadow != nil {
		t.Fatal("an instance without a shadow reports one")
	}
}

// A shadow bundle that cannot be loaded stops the start with a message naming it.
func TestShadowBundleRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	broken := writeBundle(t, dir, "broken", "deny contains x if { x := no_such_function(1) }\n")
	for name, shadow := range map[string]string{"broken": broken, "missing": filepath.Join(dir, "nope.tar.gz")} {
		_, err := kavach.Open(context.Background(), kavach.Config{Database: "sqlite://" + filepath.Join(dir, name+".db"),
			Policy: kavach.PolicyConfig{Shadow: shadow}, Audit: kavach.AuditConfig{SigningKey: testAuditKey}})
		if err == nil || !strings.Contains(err.Error(), "shadow bundle") {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
