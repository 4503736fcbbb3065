package engine_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
)

// customSet is one custom module in package kavach.custom.
func customSet(revision, rules string) *engine.PolicySet {
	src := "package kavach.custom\n\nimport rego.v1\n\n" + rules + "\n"
	return &engine.PolicySet{Revision: revision, Modules: []engine.Module{{Name: "custom.rego", Source: src}}}
}

const denyTransfers = `deny contains {"code": "POLICY_DENIED", "reason": "no transfers"} if input.action == "transfer"`

// A prepared revision answers beside the active one and changes nothing: the active
// revision keeps deciding, and the candidate's custom data is its own.
func TestPreparedRevisionEvaluatesBeside(t *testing.T) {
	ctx := context.Background()
	e, err := customEngine(t, `deny contains {"reason": data.kavach.custom.why} if input.action == "wire"`)
	if err != nil {
		t.Fatal(err)
	}
	cand := customSet("cand", denyTransfers)
	cand.Data = map[string]any{"why": "candidate data"}
	rev, err := e.Prepare(ctx, cand)
	if err != nil {
		t.Fatal(err)
	}
	req := engine.Request{AgentID: "agt_a", Action: "transfer", Resource: "bank:acct:1", Now: time.Now()}
	if o, err := e.Evaluate(ctx, rev, req); err != nil || o.Code != api.PolicyDenied || o.Reason != "no transfers" {
		t.Fatalf("candidate: %+v, %v", o, err)
	}
	if o, err := e.Evaluate(ctx, nil, req); err != nil || o.Code != api.Allowed || o.Grant != "p" {
		t.Fatalf("active: %+v, %v", o, err)
	}
	if r := e.Decide(ctx, req); !r.Allowed || r.Revision != "r" {
		t.Fatalf("the active revision no longer decides: %+v", r)
	}
	// The active revision's rule reads the active revision's data, where "why" is
	// undefined: the candidate's data did not leak into it, so "wire" stays allowed.
	wire := req
	wire.Action = "wire"
	if o, _ := e.Evaluate(ctx, nil, wire); o.Code != api.Allowed {
		t.Fatalf("active wire: %+v", o)
	}
	rules, err := e.Rules(ctx, rev, req)
	if err != nil || len(rules) != 1 || rules[0].Location != "custom.rego:5" || !strings.HasPrefix(rules[0].Name, "deny contains") {
		t.Fatalf("rules that held: %+v, %v", rules, err)
	}
	if rules, _ := e.Rules(ctx, rev, wire); len(rules) != 0 {
		t.Fatalf("rules that held for an allowed call: %+v", rules)
	}
	if _, err := e.Prepare(ctx, customSet("broken", `deny contains x if { x := input.nope.nope; data.kavach.authz.decision }`)); err == nil ||
		!strings.Contains(err.Error(), "revision broken") {
		t.Fatalf("a candidate reaching into kavach.authz: %v", err)
	}
	if name, err := engine.CheckPolicySet(ctx, customSet("ok", denyTransfers)); err != nil || name != "ok" {
		t.Fatalf("CheckPolicySet: %q, %v", name, err)
	}
}

// A gate added by a candidate shows as APPROVAL_REQUIRED: the policy needs a human.
func TestOutcomeOfAGate(t *testing.T) {
	ctx := context.Background()
	e, rev := withCandidate(t, customSet("gate", `require_approval contains "big" if input.action == "transfer"`))
	o, err := e.Evaluate(ctx, rev, engine.Request{AgentID: "agt_a", Action: "transfer", Resource: "bank:acct:1", Now: time.Now()})
	if err != nil || o.Code != api.ApprovalRequired || o.Grant != "p" {
		t.Fatalf("%+v, %v", o, err)
	}
}

// The shadow sees real calls, never changes their answers, takes no rate slot, counts
// disagreements by pair of codes and keeps at most one example a second for each pair.
func TestShadowDisagreements(t *testing.T) {
	ctx := context.Background()
	e, rev := withCandidate(t, customSet("cand", denyTransfers))
	var mu sync.Mutex
	var reported []api.ShadowDisagreement
	stop := e.StartShadow(engine.ShadowConfig{Revision: rev, OnDisagreement: func(d api.ShadowDisagreement) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, d)
	}})
	defer stop()
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		// Transfers at 0, 0.5, 1.0, … 4.5 s: examples at 0, 1, 2, 3, 4 s.
		now := start.Add(time.Duration(i) * 500 * time.Millisecond)
		for _, action := range []string{"transfer", "read"} {
			if r := e.Decide(ctx, engine.Request{AgentID: "agt_a", Action: action, Resource: "bank:acct:1", Now: now}); !r.Allowed {
				t.Fatalf("%s: the shadow changed the answer: %+v", action, r)
			}
		}
		e.Decide(ctx, engine.Request{AgentID: "agt_a", Action: "transfer", Resource: "bank:acct:1", Now: now, DryRun: true})
	}
	st := waitShadow(t, e, 20)
	if st.Disagreed != 10 || st.Dropped != 0 || st.Errors != 0 || st.Revision != "cand" {
		t.Fatalf("status %+v", st)
	}
	if len(st.ByCodes) != 1 || st.ByCodes[0] != (api.ShadowCount{Active: api.Allowed, Shadow: api.PolicyDenied, Count: 10}) {
		t.Fatalf("by codes %+v", st.ByCodes)
	}
	if len(st.Examples) != 5 || !st.Examples[0].Time.Equal(start.Add(4*time.Second)) || st.Examples[0].Rules[0] != "custom.rego:5: "+strings.SplitN(denyTransfers, " if", 2)[0] {
		t.Fatalf("examples %+v", st.Examples)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 5 || reported[0].TenantID != "t" || reported[0].ShadowReason != "no transfers" {
		t.Fatalf("reported %+v", reported)
	}
}

// A full queue drops and counts; the caller never waits for the shadow.
func TestShadowFullQueueDrops(t *testing.T) {
	ctx := context.Background()
	e, rev := withCandidate(t, customSet("cand", denyTransfers))
	block := make(chan struct{})
	first := true
	stop := e.StartShadow(engine.ShadowConfig{Revision: rev, QueueSize: 2, OnDisagreement: func(api.ShadowDisagreement) {
		if first { // hold the shadow's goroutine on its first disagreement
			first = false
			<-block
		}
	}})
	defer stop()
	decide := func() {
		if r := e.Decide(ctx, engine.Request{AgentID: "agt_a", Action: "transfer", Resource: "bank:acct:1", Now: time.Now()}); !r.Allowed {
			t.Fatalf("%+v", r)
		}
	}
	decide()
	for e.ShadowStatus().Disagreed == 0 { // the goroutine now waits in OnDisagreement
		time.Sleep(time.Millisecond)
	}
	for range 50 {
		decide()
	}
	if st := e.ShadowStatus(); st.Dropped != 48 {
		t.Fatalf("dropped %d, want 48 (a queue of 2)", st.Dropped)
	}
	close(block)
	st := waitShadow(t, e, 3)
	if st.Evaluated != 3 || st.Dropped != 48 {
		t.Fatalf("%+v", st)
	}
	stop()
	if e.ShadowStatus() != nil {
		t.Fatal("a stopped shadow still reports")
	}
	decide() // nothing left to offer to
}

// withCandidate is an engine with no custom rules active and ps prepared beside them.
func withCandidate(t *testing.T, ps *engine.PolicySet) (*engine.Engine, *engine.Revision) {
	t.Helper()
	e, err := customEngine(t, ``)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := e.Prepare(context.Background(), ps)
	if err != nil {
		t.Fatal(err)
	}
	return e, rev
}

// waitShadow waits until the shadow has evaluated n calls.
func waitShadow(t *testing.T, e *engine.Engine, n int64) *api.ShadowStatus {
	t.Helper()
	for range 5000 {
		if st := e.ShadowStatus(); st.Evaluated+st.Errors >= n {
			return st
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the shadow evaluated %d of %d calls", e.ShadowStatus().Evaluated, n)
	return nil
}

// Compare gives the answers evaluating each revision in full gives, whichever custom rules
// hold under either — the active revision's, the candidate's, both or neither.
func TestCompareAgreesWithEvaluate(t *testing.T) {
	ctx := context.Background()
	for _, active := range []string{``, `deny contains "no wires" if input.action == "wire"
require_approval contains "reads" if input.action == "read"`, `is_wire(a) := a == "wire"
deny contains "no wires" if is_wire(input.action)`} {
		e, err := customEngine(t, active)
		if err != nil {
			t.Fatal(err)
		}
		for _, cand := range []string{``, denyTransfers, `require_approval contains "wires" if input.action == "wire"`} {
			rev, err := e.Prepare(ctx, customSet("cand", cand))
			if err != nil {
				t.Fatal(err)
			}
			for _, agentID := range []string{"agt_a", "agt_unknown"} {
				for _, action := range []string{"wire", "read", "transfer", "list"} {
					req := engine.Request{AgentID: agentID, Action: action, Resource: "bank:acct:1", Now: time.Now()}
					was, now := e.Compare(ctx, engine.NewMemo(16), nil, rev, req)
					wantWas, err1 := e.Evaluate(ctx, nil, req)
					wantNow, err2 := e.Evaluate(ctx, rev, req)
					if err1 != nil || err2 != nil || was != wantWas || now != wantNow {
						t.Errorf("active %q, candidate %q, %s %s: Compare %s/%s, Evaluate %s/%s", active, cand, agentID, action, was.Code, now.Code, wantWas.Code, wantNow.Code)
					}
				}
			}
		}
	}
}
