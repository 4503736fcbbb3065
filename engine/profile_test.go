package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/policies"
)

// profileTemplates are permission sets several agents are made from.
func profileTemplates() [][]agent.Permission {
	return [][]agent.Permission{
		{
			{Resource: "db:*", Actions: []string{"read"}, Constraints: &agent.Constraints{
				TimeWindows: []agent.TimeWindow{{Start: "09:00", End: "09:30", Timezone: "Australia/Eucla"}}}},
			{Resource: "mcp:github:*", Actions: []string{"read", "write"}, Constraints: &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}},
			{Resource: "tool:x", Actions: []string{"*"}},
		},
		{
			{Resource: "mcp:github:*", Actions: []string{"read"}},
			{Resource: "db:orders", Actions: []string{"write"}, Constraints: &agent.Constraints{
				ArgumentPatterns: map[string]string{"env": "dev|staging"}}},
		},
	}
}

// fromTemplate makes an agent of a template, with its own id, tenant, owner and grant ids.
func fromTemplate(i, template int, tenant string) *agent.Agent {
	a := &agent.Agent{ID: fmt.Sprintf("agt_%d", i), TenantID: tenant, OwnerID: fmt.Sprintf("owner_%d", i), Status: agent.StatusActive}
	for j, p := range profileTemplates()[template] {
		p.ID = fmt.Sprintf("perm_%d_%d", i, j)
		a.Permissions = append(a.Permissions, p)
	}
	return a
}

// Agents made from one template share a profile and, through it, the policy's answers:
// each is given the answer with its own tenant, owner and grant ids, and every answer,
// shared or not, is the one a fresh evaluation gives (code compares them). What the policy
// reads — status, expiry, permissions — gives an agent another profile; obligations give it
// none.
func TestProfilesShareAnswers(t *testing.T) {
	ctx := context.Background()
	var agents []*agent.Agent
	for i := range 12 {
		agents = append(agents, fromTemplate(i, i%2, []string{agent.DefaultTenant, "t2"}[i%3/2])) // agent 2 is in t2
	}
	expiry := time.Date(2026, 3, 4, 2, 0, 0, 0, time.UTC)
	agents[10].ExpiresAt = &expiry
	agents[11].Permissions[0].Constraints = &agent.Constraints{RateLimit: &agent.RateLimit{Max: 1000, Window: agent.Duration(time.Minute)}}
	e, s := memoEngine(t, agents, nil)

	profile := func(i int) string {
		p, ok := e.agents.get(agents[i].ID).appendProfile(nil)
		if !ok {
			return ""
		}
		return string(p)
	}
	if profile(0) == "" || profile(0) != profile(2) || profile(1) != profile(3) || profile(0) == profile(1) {
		t.Fatal("agents of one template do not share a profile, or agents of two do")
	}
	if profile(10) == "" || profile(10) == profile(0) {
		t.Fatal("an agent that expires shares the profile of agents that do not")
	}
	if profile(11) != "" {
		t.Fatal("an agent with a rate limit has a profile")
	}

	// One agent's answer, given to another of its profile.
	now := time.Date(2026, 3, 4, 0, 40, 0, 0, time.UTC) // 09:25 in Eucla
	read := Request{AgentID: agents[0].ID, Action: "read", Resource: "db:orders"}
	if c := code(t, e, read, now); c != api.Allowed {
		t.Fatalf("agent 0: %s", c)
	}
	hits := e.Stats().MemoHits
	read.AgentID = agents[2].ID
	p, _, err := e.pureOf(ctx, withNow(read, now))
	if err != nil {
		t.Fatal(err)
	}
	if e.Stats().MemoHits != hits+1 {
		t.Fatal("agent 2 was not answered from agent 0's answer")
	}
	if p.Agent.Tenant != agents[2].TenantID || p.Agent.Owner != agents[2].OwnerID || len(p.Candidates) != 1 || p.Candidates[0].ID != "perm_2_0" {
		t.Fatalf("agent 2 was given %+v", p)
	}
	if got := e.Decide(ctx, Request{AgentID: agents[2].ID, TenantID: agents[0].TenantID, Action: "read", Resource: "db:orders", Now: now}); got.Code != api.AgentNotFound {
		t.Fatalf("agent 2 asked about from agent 0's tenant: %s", got.Code)
	}
	if got := e.Decide(ctx, Request{AgentID: agents[2].ID, TenantID: agents[2].TenantID, Action: "read", Resource: "db:orders", Now: now, DryRun: true}); !got.Allowed || got.Grant != "perm_2_0" {
		t.Fatalf("agent 2 in its own tenant: %s, grant %q", got.Code, got.Grant)
	}

	// Custom rules may tell agents apart: under them, nothing is shared.
	one := &PolicySet{Revision: "agent-3", Modules: []policies.Module{{Name: "c.rego",
		Source: "package kavach.custom\n\nimport rego.v1\n\ndeny contains \"agent 3\" if input.agent_id == \"agt_3\"\n"}}}
	if err := e.Activate(ctx, one); err != nil {
		t.Fatal(err)
	}
	push := Request{AgentID: agents[1].ID, Action: "read", Resource: "mcp:github:repo"}
	if c := code(t, e, push, now); c != api.Allowed {
		t.Fatalf("agent 1 under custom rules: %s", c)
	}
	push.AgentID = agents[3].ID
	if c := code(t, e, push, now); c != api.PolicyDenied {
		t.Fatalf("agent 3 under custom rules: %s", c)
	}
	if err := e.Activate(ctx, nil); err != nil {
		t.Fatal(err)
	}

	// Generated calls, times and changes: every answer is the policy's.
	r := rand.New(rand.NewPCG(5, 8))
	asked, shared, changes := map[string]bool{}, 0, 0
	for i := range 3000 {
		switch r.IntN(60) {
		case 0:
			now = now.Add(-time.Duration(r.IntN(3600)) * time.Second)
		case 1, 2, 3:
			now = now.Truncate(time.Minute).Add(time.Minute - time.Duration(r.IntN(2))*time.Nanosecond)
		default:
			now = now.Add(time.Duration(r.IntN(2000)) * time.Millisecond)
		}
		if i%300 == 299 {
			changes++
			id := agents[r.IntN(10)].ID
			switch r.IntN(4) {
			case 0: // what the policy does not read: same profile
				change(t, e, s, id, func(a *agent.Agent) { a.OwnerID += "x" })
			case 1: // a revocation, and back
				change(t, e, s, id, func(a *agent.Agent) {
					a.Status = map[agent.Status]agent.Status{agent.StatusActive: agent.StatusRevoked, agent.StatusRevoked: agent.StatusActive}[a.Status]
				})
			case 2: // a permission of its own
				change(t, e, s, id, func(a *agent.Agent) {
					a.Permissions = append(a.Permissions, agent.Permission{ID: fmt.Sprint("extra_", i), Resource: "db:*", Actions: []string{"write"}})
				})
			case 3: // custom rules on and off: only a revision without them shares answers
				ps := one
				if r.IntN(2) == 0 {
					ps = nil
				}
				if err := e.Activate(ctx, ps); err != nil {
					t.Fatal(err)
				}
			}
		}
		req := Request{AgentID: agents[r.IntN(len(agents))].ID, Action: []string{"read", "write", "delete"}[r.IntN(3)],
			Resource: []string{"db:orders", "mcp:github:repo", "tool:x"}[r.IntN(3)], IP: []string{"", "10.1.1.1"}[r.IntN(2)]}
		if r.IntN(3) == 0 {
			req.Arguments = map[string]any{"env": []string{"dev", "prod"}[r.IntN(2)]}
		}
		key := fmt.Sprint(req, changes)
		before := e.Stats().MemoHits
		code(t, e, req, now)
		if e.Stats().MemoHits > before && !asked[key] {
			shared++ // the first time this agent made this call since the last change
		}
		asked[key] = true
	}
	if shared < 200 {
		t.Fatalf("only %d answers came from another agent's (%d from the memo in all)", shared, e.Stats().MemoHits)
	}
}

func withNow(req Request, now time.Time) Request {
	req.Now = now
	return req
}

// An agent changed while its own call is evaluated: the answer, worked out from the newer
// version, must not be remembered under the older version's profile, which other agents —
// here in another tenant — share.
func TestProfileAnswerNotFromANewerVersion(t *testing.T) {
	ctx := context.Background()
	mk := func(id, tenant, resource string) *agent.Agent {
		return &agent.Agent{ID: id, TenantID: tenant, OwnerID: "o_" + id, Status: agent.StatusActive,
			Permissions: []agent.Permission{{ID: "perm", Resource: resource, Actions: []string{"read"}}}}
	}
	e, err := New(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ReplaceAll(ctx, []*agent.Agent{mk("agt_other", "t2", "docs:public:*"), mk("agt_edited", "t1", "docs:public:*")}, nil); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() { // the agent's permission widened and narrowed again, its id kept
		for i := 0; !stop.Load(); i++ {
			if err := e.Put(ctx, mk("agt_edited", "t1", []string{"docs:public:*", "docs:*"}[i%2])); err != nil {
				t.Error(err)
				return
			}
		}
	})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 3000
	for i := range n {
		e.Decide(ctx, Request{AgentID: "agt_edited", Action: "read", Resource: fmt.Sprintf("docs:secret:%d", i), Now: now, DryRun: true})
	}
	stop.Store(true)
	wg.Wait()
	for i := range n {
		if r := e.Decide(ctx, Request{AgentID: "agt_other", Action: "read", Resource: fmt.Sprintf("docs:secret:%d", i), Now: now, DryRun: true}); r.Code != api.NoPermission {
			t.Fatalf("docs:secret:%d for an agent granted docs:public:* only: %s", i, r.Code)
		}
	}
}
