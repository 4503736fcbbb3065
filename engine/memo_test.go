package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/policies"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/sqlite"
)

// memoEngine is an engine over a SQLite store holding the agents (and their tenants) and
// delegations, loaded as at start-up, with the memo on. Changes go through the store and then the engine, as
// the change feed applies them.
func memoEngine(t *testing.T, agents []*agent.Agent, dels []*agent.Delegation) (*Engine, store.Store) {
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
	tenants := map[string]bool{agent.DefaultTenant: true}
	for _, a := range agents {
		if !tenants[a.TenantID] {
			tenants[a.TenantID] = true
			if err := s.CreateTenant(ctx, &agent.Tenant{ID: a.TenantID, Name: a.TenantID, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, a := range agents {
		if err := s.CreateAgent(ctx, a, fmt.Sprintf("%064d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range dels {
		if err := s.CreateDelegation(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	e, err := New(ctx, Config{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.LoadAll(ctx); err != nil {
		t.Fatal(err)
	}
	return e, s
}

// change updates an agent in the store and then in the engine.
func change(t *testing.T, e *Engine, s store.Store, id string, fn func(*agent.Agent)) {
	t.Helper()
	a, err := s.UpdateAgent(context.Background(), id, func(a *agent.Agent) error { fn(a); return nil })
	if err == nil {
		err = e.Put(context.Background(), a)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// revokeDelegation revokes a delegation in the store and then in the engine.
func revokeDelegation(t *testing.T, e *Engine, s store.Store, id string) {
	t.Helper()
	d, err := s.UpdateDelegation(context.Background(), id, func(d *agent.Delegation) error { d.Status = agent.DelegationRevoked; return nil })
	if err == nil {
		err = e.PutDelegation(context.Background(), d)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// code decides req at now through the memo, and checks the answer against a fresh
// evaluation of the same call.
func code(t *testing.T, e *Engine, req Request, now time.Time) api.DecisionCode {
	t.Helper()
	req.Now = now
	got, _, err := e.pureOf(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := e.evalPure(context.Background(), nil, req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, fresh) {
		t.Fatalf("%s %s at %s: remembered %+v, the policy now says %+v", req.Action, req.Resource, now.Format(time.RFC3339Nano), got, fresh)
	}
	return got.Code
}

// An answer is never used past its horizon: a window's edge (in its own time zone, across a
// daylight-saving change and in a zone 45 minutes off the hour), the agent's expiry and a
// delegated grant's expiry; and every change — revocation, a delegation revoked, a new
// revision — is seen by the next call.
func TestMemoNeverOutlivesItsValidity(t *testing.T) {
	ctx := context.Background()
	expiry := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	dlgExpiry := time.Date(2026, 3, 29, 1, 20, 0, 0, time.UTC)
	worker := &agent.Agent{ID: "agt_w", TenantID: agent.DefaultTenant, OwnerID: "o", Status: agent.StatusActive, ExpiresAt: &expiry,
		Permissions: []agent.Permission{
			{ID: "p_berlin", Resource: "db:*", Actions: []string{"read"}, Constraints: &agent.Constraints{
				TimeWindows: []agent.TimeWindow{{Start: "03:00", End: "04:00", Timezone: "Europe/Berlin"}}}},
			{ID: "p_eucla", Resource: "tool:*", Actions: []string{"run"}, Constraints: &agent.Constraints{
				TimeWindows: []agent.TimeWindow{{Start: "10:15", End: "10:16", Timezone: "Australia/Eucla"}}}},
			{ID: "p_any", Resource: "mcp:*", Actions: []string{"call"}},
		}}
	sub := &agent.Agent{ID: "agt_s", TenantID: agent.DefaultTenant, OwnerID: "o", Status: agent.StatusActive}
	dlg := &agent.Delegation{ID: "dlg_1", TenantID: agent.DefaultTenant, FromAgentID: "agt_w", ToAgentID: "agt_s", Status: agent.DelegationActive,
		ExpiresAt: &dlgExpiry, Permissions: []agent.Permission{{ID: "p_sub", Resource: "mcp:*", Actions: []string{"call"}}}}
	e, s := memoEngine(t, []*agent.Agent{worker, sub}, []*agent.Delegation{dlg})
	read := Request{AgentID: "agt_w", Action: "read", Resource: "db:orders"}

	// Berlin switches to summer time at 01:00 UTC on 29 March 2026: 01:59:59 CET is
	// followed by 03:00:00 CEST, the window's start.
	dst := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	if c := code(t, e, read, dst.Add(-time.Second)); c != api.OutsideTimeWindow {
		t.Fatalf("before the change: %s", c)
	}
	if c := code(t, e, read, dst.Add(-time.Millisecond)); c != api.OutsideTimeWindow {
		t.Fatalf("a millisecond before: %s", c)
	}
	if c := code(t, e, read, dst); c != api.Allowed {
		t.Fatalf("at the change, 03:00 CEST: %s", c)
	}
	// A dry run asking about an earlier time is not answered from a later one.
	if c := code(t, e, read, dst.Add(-time.Hour)); c != api.OutsideTimeWindow {
		t.Fatalf("an hour earlier: %s", c)
	}

	// Eucla is UTC+8:45: 10:15 local is 01:30 UTC.
	run := Request{AgentID: "agt_w", Action: "run", Resource: "tool:x"}
	start := time.Date(2026, 3, 28, 1, 30, 0, 0, time.UTC)
	for _, step := range []struct {
		at   time.Time
		want api.DecisionCode
	}{
		{start.Add(-time.Nanosecond), api.OutsideTimeWindow}, {start, api.Allowed}, {start.Add(59 * time.Second), api.Allowed},
		{start.Add(time.Minute - time.Nanosecond), api.Allowed}, {start.Add(time.Minute), api.OutsideTimeWindow},
	} {
		if c := code(t, e, run, step.at); c != step.want {
			t.Fatalf("Eucla at %s: %s, want %s", step.at.Format(time.RFC3339Nano), c, step.want)
		}
	}

	// The delegated grant ends with its delegation; the agent with its expiry.
	call := Request{AgentID: "agt_s", Action: "call", Resource: "mcp:x"}
	if c := code(t, e, call, dlgExpiry.Add(-time.Nanosecond)); c != api.Allowed {
		t.Fatalf("before the delegation ends: %s", c)
	}
	if c := code(t, e, call, dlgExpiry); c != api.NoPermission {
		t.Fatalf("when it ends: %s", c)
	}
	own := Request{AgentID: "agt_w", Action: "call", Resource: "mcp:x"}
	if c := code(t, e, own, expiry.Add(-time.Nanosecond)); c != api.Allowed {
		t.Fatalf("before the agent expires: %s", c)
	}
	if c := code(t, e, own, expiry); c != api.AgentExpired {
		t.Fatalf("when it expires: %s", c)
	}

	// Changes: a delegation revoked, the agent revoked, a new revision.
	early := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	if c := code(t, e, call, early); c != api.Allowed {
		t.Fatalf("delegated call: %s", c)
	}
	revokeDelegation(t, e, s, dlg.ID)
	if c := code(t, e, call, early); c != api.NoPermission {
		t.Fatalf("after the delegation's revocation: %s", c)
	}
	if c := code(t, e, own, early); c != api.Allowed {
		t.Fatalf("own call: %s", c)
	}
	if err := e.Activate(ctx, &PolicySet{Revision: "deny-calls", Modules: []policies.Module{{Name: "c.rego",
		Source: "package kavach.custom\n\nimport rego.v1\n\ndeny contains \"no calls\" if input.action == \"call\"\n"}}}); err != nil {
		t.Fatal(err)
	}
	if c := code(t, e, own, early); c != api.PolicyDenied {
		t.Fatalf("after a new revision: %s", c)
	}
	change(t, e, s, worker.ID, func(a *agent.Agent) { a.Status = agent.StatusRevoked })
	if c := code(t, e, read, early); c != api.AgentRevoked {
		t.Fatalf("after the agent's revocation: %s", c)
	}
	if e.Stats().MemoHits == 0 {
		t.Fatal("nothing was answered from the memo")
	}
}

// Custom rules that read the time, other agents' documents, the input whole or by computed
// keys, or call a non-deterministic built-in keep their revision out of the memo.
func TestMemoableRevisions(t *testing.T) {
	for rules, want := range map[string]bool{
		`deny contains "x" if input.action == "delete"`:                                    true,
		`deny contains "x" if data.kavach.custom.blocked[input.resource]`:                  true,
		`deny contains "x" if time.weekday(input.now_ns) == "Friday"`:                      false,
		`deny contains "x" if time.now_ns() > 0`:                                           false,
		`deny contains "x" if data.kavach.agents[input.agent_id].owner == "eve"`:           false,
		`deny contains "x" if count(data.kavach.grants) > 0`:                               false,
		`deny contains "x" if { k := "now_ns"; input[k] > 0 }`:                             false,
		`deny contains "x" if { i := input; i.now_ns > 0 }`:                                false,
		`deny contains "x" if { r := http.send({"method": "get", "url": "http://x"}); r }`: false,
		"f(x) := rand.intn(\"k\", 10) if x\ndeny contains \"x\" if f(true) > 5":            false,
	} {
		ps := &PolicySet{Revision: "r", Modules: []policies.Module{{Name: "c.rego", Source: "package kavach.custom\n\nimport rego.v1\n\n" + rules + "\n"}}}
		parsed, err := ps.checkRoots()
		if err != nil {
			t.Fatalf("%s: %v", rules, err)
		}
		if got := memoable(parsed); got != want {
			t.Errorf("%s: memoable %v, want %v", rules, got, want)
		}
	}
}

// Over generated agents, calls and times — forwards, backwards, across minute edges and
// daylight-saving changes, with changes to agents, delegations and revisions in between —
// every answer through the memo is the answer the policy gives afresh.
func TestMemoAgreesWithThePolicy(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 11))
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Eucla", "Pacific/Chatham"}
	base := time.Date(2026, 3, 8, 6, 59, 0, 0, time.UTC) // New York springs forward at 07:00 UTC
	perm := func(i int) agent.Permission {
		p := agent.Permission{ID: fmt.Sprintf("p%d", i), Resource: []string{"db:*", "mcp:github:*", "tool:x", "*"}[r.IntN(4)],
			Actions: [][]string{{"read"}, {"read", "write"}, {"*"}}[r.IntN(3)], Constraints: &agent.Constraints{}}
		if r.IntN(2) == 0 {
			h := r.IntN(24)
			p.Constraints.TimeWindows = []agent.TimeWindow{{Start: fmt.Sprintf("%02d:%02d", h, r.IntN(60)), End: fmt.Sprintf("%02d:%02d", (h+r.IntN(3))%24, r.IntN(60)),
				Timezone: zones[r.IntN(len(zones))]}}
		}
		if r.IntN(4) == 0 {
			p.Constraints.IPAllowlist = []string{"10.0.0.0/8"}
		}
		if r.IntN(4) == 0 {
			p.Constraints.ArgumentPatterns = map[string]string{"env": "dev|staging"}
		}
		return p
	}
	var agents []*agent.Agent
	for i := range 8 {
		a := &agent.Agent{ID: fmt.Sprintf("agt_%d", i), TenantID: agent.DefaultTenant, OwnerID: "o", Status: agent.StatusActive}
		for j := range 1 + r.IntN(3) {
			a.Permissions = append(a.Permissions, perm(i*10+j))
		}
		if r.IntN(3) == 0 {
			exp := base.Add(time.Duration(r.IntN(7200)) * time.Second)
			a.ExpiresAt = &exp
		}
		agents = append(agents, a)
	}
	dexp := base.Add(40 * time.Minute)
	dels := []*agent.Delegation{{ID: "dlg_a", TenantID: agent.DefaultTenant, FromAgentID: "agt_0", ToAgentID: "agt_1", Status: agent.DelegationActive,
		ExpiresAt: &dexp, Permissions: agents[0].Permissions[:1]}}
	e, s := memoEngine(t, agents, dels)

	now := base
	var recent []Request
	for i := range 4000 {
		switch r.IntN(20) {
		case 0: // back in time, as a dry run may ask
			now = now.Add(-time.Duration(r.IntN(3600)) * time.Second)
		case 1, 2, 3: // to just before or on a minute edge
			now = now.Truncate(time.Minute).Add(time.Minute - time.Duration(r.IntN(2))*time.Nanosecond)
		default:
			now = now.Add(time.Duration(r.IntN(5000)) * time.Millisecond)
		}
		if i%500 == 499 { // a change between calls
			switch r.IntN(3) {
			case 0:
				change(t, e, s, agents[r.IntN(len(agents))].ID, func(a *agent.Agent) {
					a.Permissions = append([]agent.Permission{perm(1000 + i)}, a.Permissions...)
				})
			case 1:
				revokeDelegation(t, e, s, dels[0].ID)
			case 2:
				if err := e.Activate(ctx, &PolicySet{Revision: fmt.Sprint("r", i), Modules: []policies.Module{{Name: "c.rego",
					Source: "package kavach.custom\n\nimport rego.v1\n\ndeny contains \"no writes\" if input.action == \"write\"\n"}}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Calls repeat, as an agent's do: mostly one of a few recent ones.
		if len(recent) < 8 || r.IntN(10) == 0 {
			req := Request{AgentID: fmt.Sprintf("agt_%d", r.IntN(len(agents))), Action: []string{"read", "write", "delete"}[r.IntN(3)],
				Resource: []string{"db:orders", "mcp:github:repo", "tool:x"}[r.IntN(3)], IP: []string{"", "10.1.1.1", "192.0.2.1"}[r.IntN(3)]}
			if r.IntN(3) == 0 {
				req.Arguments = map[string]any{"env": []string{"dev", "prod"}[r.IntN(2)], "n": float64(r.IntN(2))}
			}
			recent = append(recent, req)
			if len(recent) > 8 {
				recent = recent[1:]
			}
		}
		code(t, e, recent[r.IntN(len(recent))], now)
	}
	if hits := e.Stats().MemoHits; hits < 500 {
		t.Fatalf("only %d of 4000 answers came from the memo: the test does not exercise it", hits)
	}
}

// Arguments the policy sees alike encode alike, and only those.
func TestCanonicalArgs(t *testing.T) {
	enc := func(m map[string]any) string {
		s, ok := canonicalArgs(m)
		if !ok {
			t.Fatalf("%v not encoded", m)
		}
		return s
	}
	if enc(map[string]any{"a": float64(1), "b": "x"}) != enc(map[string]any{"b": "x", "a": 1}) {
		t.Error("the same arguments encode differently")
	}
	for _, pair := range [][2]map[string]any{
		{{"a": "1"}, {"a": float64(1)}}, {{"a": "x:y"}, {"a:x": "y"}}, {{"a": []any{"b"}}, {"a": "b"}},
		{{"a": true}, {"a": "t"}}, {{"a": nil}, {"a": "n"}}, {{"a": float64(1.5)}, {"a": float64(1)}},
	} {
		if enc(pair[0]) == enc(pair[1]) {
			t.Errorf("%v and %v encode alike", pair[0], pair[1])
		}
	}
	if _, ok := canonicalArgs(map[string]any{"a": make([]byte, 5000)}); ok {
		t.Error("an argument of an unknown type was encoded")
	}
	big := map[string]any{"a": string(make([]byte, maxMemoArgs+1))}
	if _, ok := canonicalArgs(big); ok {
		t.Error("arguments past the limit were encoded")
	}
}

// The resource's segments are only in the input of a revision whose custom rules could read
// them; the embedded policy alone never does, and its decisions skip building them.
func TestInputSegmentsOnlyForCustomRules(t *testing.T) {
	ctx := context.Background()
	e, a := oneAgentEngine(t)
	req := Request{AgentID: a.ID, Action: "read", Resource: "mcp:github:repos", Now: time.Now()}
	custom, err := prepare(ctx, e.agents, &PolicySet{Revision: "c", Modules: []policies.Module{{Name: "c.rego",
		Source: "package kavach.custom\n\nimport rego.v1\n\ndeny contains \"prod\" if input.segs[1] == \"github\"\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rev  *Revision
		want bool
	}{{e.Active(), false}, {custom, true}} {
		in, err := buildInputFor(c.rev, req)
		if err != nil {
			t.Fatal(err)
		}
		obj := in.(ast.Object)
		if got := obj.Get(inSegs) != nil && obj.Get(inN) != nil; got != c.want {
			t.Errorf("revision %s: segs and n in the input: %v, want %v", c.rev.Name, got, c.want)
		}
	}
	// The custom revision's rule sees them; without it the call is allowed.
	for rev, want := range map[*Revision]api.DecisionCode{e.Active(): api.Allowed, custom: api.PolicyDenied} {
		if out, err := e.Evaluate(ctx, rev, req); err != nil || out.Code != want {
			t.Errorf("revision %s: %+v, %v; want %s", rev.Name, out, err, want)
		}
	}
}
