package kavach_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

func perm(resource string, actions ...string) agent.Permission {
	return agent.Permission{Resource: resource, Actions: actions}
}

func delegate(t *testing.T, f *fixture, ctx context.Context, from, to string, maxDepth int, perms ...agent.Permission) *agent.Delegation {
	t.Helper()
	d, err := f.k.Delegations().Delegate(ctx, api.DelegateRequest{FromAgentID: from, ToAgentID: to, Permissions: perms, MaxDepth: maxDepth})
	if err != nil {
		t.Fatalf("delegate %s → %s: %v", from, to, err)
	}
	return d
}

func wantRefusal(t *testing.T, err error, reason string) {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Reason != reason {
		t.Fatalf("want a refusal with reason %s, got %#v", reason, err)
	}
}

var readRepos = api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}

func TestDelegatedGrantAllowsAndCarriesVia(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		orch := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{perm("mcp:github:*", "read", "write")}})
		child := create(t, f, alice, api.CreateAgentRequest{Type: agent.TypeDelegated, Permissions: []agent.Permission{}})
		d := delegate(t, f, alice, orch.ID, child.ID, 0, perm("mcp:github:repos", "read"))
		if d.Depth != 1 || d.MaxDepth != agent.DefaultMaxDepth || d.Status != agent.DelegationActive || d.Permissions[0].ID == "" {
			t.Fatalf("delegation: %+v", d)
		}
		got := authorize(t, f, alice, child.ID, readRepos)
		if !got.Allowed || !slices.Equal(got.Via, []string{d.ID}) || got.Grant != d.Permissions[0].ID {
			t.Fatalf("delegated call: %+v", got)
		}
		if d := authorize(t, f, alice, child.ID, api.AuthorizeRequest{Action: "write", Resource: "mcp:github:repos"}); d.Allowed {
			t.Fatal("the child got more than was delegated")
		}
		if d := authorize(t, f, alice, child.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:issues"}); d.Allowed {
			t.Fatal("the child got a resource that was not delegated")
		}
		events, _ := auditEvents(t, f, child.ID)
		audited := false
		for _, e := range events {
			if e.Kind == "decision" && e.Code == "ALLOWED" {
				audited = slices.Equal(e.Via, []string{d.ID})
			}
		}
		if !audited {
			t.Fatal("via is not audited")
		}
		list, err := f.k.Delegations().List(alice, api.ListDelegationsRequest{AgentID: orch.ID, Direction: "from"})
		if err != nil || len(list.Delegations) != 1 || list.Delegations[0].ID != d.ID {
			t.Fatalf("list from: %+v %v", list, err)
		}
		if list, _ := f.k.Delegations().List(bob, api.ListDelegationsRequest{}); len(list.Delegations) != 0 {
			t.Fatal("bob sees alice's delegations")
		}

		// Delegations survive a restart: a fresh engine compiles them from the store.
		if k2 := reopen(t, f); k2 != nil {
			d2, err := k2.Authorize(alice, child.ID, readRepos, api.CallContext{})
			if err != nil || !d2.Allowed {
				t.Fatalf("after reopening: %+v %v", d2, err)
			}
		}
	})
}

func TestDelegationRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ds := f.k.Delegations()
		orch := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{perm("mcp:github:*", "read", "write")}})
		a := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
		b := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
		req := func(from, to string, p agent.Permission) api.DelegateRequest {
			return api.DelegateRequest{FromAgentID: from, ToAgentID: to, Permissions: []agent.Permission{p}}
		}
		_, err := ds.Delegate(alice, req(orch.ID, orch.ID, perm("mcp:github:repos", "read")))
		wantRefusal(t, err, api.ReasonSelfDelegation)
		_, err = ds.Delegate(alice, req(orch.ID, a.ID, perm("mcp:*", "read")))
		wantRefusal(t, err, api.ReasonNotCovered)
		_, err = ds.Delegate(alice, req(orch.ID, a.ID, perm("mcp:github:repos", "delete")))
		wantRefusal(t, err, api.ReasonNotCovered)
		_, err = ds.Delegate(alice, req(orch.ID, a.ID, perm("mcp:github:repos", "*")))
		wantRefusal(t, err, api.ReasonNotCovered)

		delegate(t, f, alice, orch.ID, a.ID, 0, perm("mcp:github:*", "read"))
		delegate(t, f, alice, a.ID, b.ID, 0, perm("mcp:github:*", "read"))
		_, err = ds.Delegate(alice, req(b.ID, orch.ID, perm("mcp:github:repos", "read")))
		wantRefusal(t, err, api.ReasonCycle)
		_, err = ds.Delegate(alice, req(b.ID, a.ID, perm("mcp:github:repos", "read")))
		wantRefusal(t, err, api.ReasonCycle)

		// Depth: orch → a → b is depth 2; with the default maxDepth 3 one more link is fine,
		// a fourth is not.
		c := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
		d := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
		if dc := delegate(t, f, alice, b.ID, c.ID, 0, perm("mcp:github:repos", "read")); dc.Depth != 3 {
			t.Fatalf("depth %d, want 3", dc.Depth)
		}
		_, err = ds.Delegate(alice, req(c.ID, d.ID, perm("mcp:github:repos", "read")))
		wantRefusal(t, err, api.ReasonDepthExceeded)
		// A link's smaller maxDepth binds the whole chain below it.
		e := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
		x := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
		delegate(t, f, alice, orch.ID, e.ID, 1, perm("mcp:github:*", "read"))
		_, err = ds.Delegate(alice, api.DelegateRequest{FromAgentID: e.ID, ToAgentID: x.ID, Permissions: []agent.Permission{perm("mcp:github:repos", "read")}, MaxDepth: 5})
		wantRefusal(t, err, api.ReasonDepthExceeded)

		// Expiry may not outlast the parent's grant.
		soon := f.clock().Add(time.Hour)
		short := create(t, f, alice, api.CreateAgentRequest{ExpiresAt: &soon, Permissions: []agent.Permission{perm("mcp:github:*", "read")}})
		later := f.clock().Add(2 * time.Hour)
		_, err = ds.Delegate(alice, api.DelegateRequest{FromAgentID: short.ID, ToAgentID: x.ID, Permissions: []agent.Permission{perm("mcp:github:repos", "read")}, ExpiresAt: &later})
		wantRefusal(t, err, api.ReasonExpiryTooLate)

		// A revoked agent delegates nothing.
		if _, err := f.k.Agents().Revoke(alice, short.ID); err != nil {
			t.Fatal(err)
		}
		_, err = ds.Delegate(alice, req(short.ID, x.ID, perm("mcp:github:repos", "read")))
		wantRefusal(t, err, api.ReasonFromInactive)

		// Another owner's agent: forbidden to a user, allowed to a tenant admin.
		bobs := create(t, f, bob, api.CreateAgentRequest{Permissions: []agent.Permission{}})
		if _, err := ds.Delegate(alice, req(orch.ID, bobs.ID, perm("mcp:github:repos", "read"))); !api.IsNotFound(err) {
			t.Fatalf("alice cannot even see bob's agent: %v", err)
		}
		admin := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleAdmin, TenantID: "default"})
		delegate(t, f, admin, orch.ID, bobs.ID, 0, perm("mcp:github:repos", "read"))

		// Bad input names the field.
		_, err = ds.Delegate(alice, api.DelegateRequest{FromAgentID: orch.ID, ToAgentID: x.ID})
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Field != "permissions" {
			t.Fatalf("no permissions: %v", err)
		}
	})
}

func TestParentConstraintsBindTheChild(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		// 2026-03-02 is a Monday; the clock starts at 10:00 UTC.
		orch := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{{
			Resource: "mcp:github:*", Actions: []string{"read"},
			Constraints: &agent.Constraints{
				IPAllowlist: []string{"10.0.0.0/8"},
				TimeWindows: []agent.TimeWindow{{Start: "09:00", End: "17:00", Timezone: "UTC"}},
			},
		}}})
		child := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
		delegate(t, f, alice, orch.ID, child.ID, 0, perm("mcp:github:repos", "read"))
		call := func(ip string) *api.Decision {
			d, err := f.k.Authorize(alice, child.ID, readRepos, api.CallContext{IP: ip})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		if d := call("10.1.1.1"); !d.Allowed {
			t.Fatalf("inside the parent's constraints: %s", d.Code)
		}
		if d := call("192.0.2.1"); d.Code != api.IPNotAllowed {
			t.Fatalf("outside the parent's IP allowlist: %s", d.Code)
		}
		f.advance(8 * time.Hour) // 18:00
		if d := call("10.1.1.1"); d.Code != api.OutsideTimeWindow {
			t.Fatalf("outside the parent's time window: %s", d.Code)
		}
	})
}

func TestChildrenCannotMultiplyTheParentsRateLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		orch := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{{
			Resource: "mcp:github:*", Actions: []string{"read"},
			Constraints: &agent.Constraints{RateLimit: &agent.RateLimit{Max: 10, Window: agent.Duration(time.Minute)}},
		}}})
		callers := []string{orch.ID}
		for range 3 {
			c := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
			delegate(t, f, alice, orch.ID, c.ID, 0, perm("mcp:github:*", "read"))
			callers = append(callers, c.ID)
		}
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				d, err := f.k.Authorize(alice, callers[i%4], readRepos, api.CallContext{})
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				} else if d.Code != api.RateLimited {
					t.Errorf("unexpected %s", d.Code)
				}
			})
		}
		wg.Wait()
		if allowed.Load() != 10 {
			t.Fatalf("the parent and its three children made %d calls; the parent's limit is 10", allowed.Load())
		}
	})
}

func TestRevocationCascades(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		chain := func() (orch, a, b, c *api.AgentWithToken, links []*agent.Delegation) {
			orch = create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{perm("mcp:*", "read")}})
			a = create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
			b = create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
			c = create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
			links = []*agent.Delegation{
				delegate(t, f, alice, orch.ID, a.ID, 0, perm("mcp:github:*", "read")),
				delegate(t, f, alice, a.ID, b.ID, 0, perm("mcp:github:*", "read")),
				delegate(t, f, alice, b.ID, c.ID, 0, perm("mcp:github:repos", "read")),
			}
			if d := authorize(t, f, alice, c.ID, readRepos); !d.Allowed || len(d.Via) != 3 || d.Via[0] != links[0].ID {
				t.Fatalf("C through the chain: %+v", d)
			}
			return
		}

		// Revoking the orchestrator denies C at once; an unrelated chain is untouched.
		orch, a, _, c, _ := chain()
		_, _, _, other, _ := chain()
		if _, err := f.k.Agents().Revoke(alice, orch.ID); err != nil {
			t.Fatal(err)
		}
		if d := authorize(t, f, alice, c.ID, readRepos); d.Allowed {
			t.Fatal("C is still allowed after the orchestrator was revoked")
		}
		if d := authorize(t, f, alice, a.ID, readRepos); d.Allowed {
			t.Fatal("A is still allowed after the orchestrator was revoked")
		}
		if d := authorize(t, f, alice, other.ID, readRepos); !d.Allowed {
			t.Fatal("an unrelated chain was affected")
		}

		// Revoking the A→B link denies C; A keeps its grant.
		_, a, _, c, links := chain()
		if _, err := f.k.Delegations().Revoke(alice, links[1].ID); err != nil {
			t.Fatal(err)
		}
		if d := authorize(t, f, alice, c.ID, readRepos); d.Allowed {
			t.Fatal("C is still allowed after the A→B link was revoked")
		}
		if d := authorize(t, f, alice, a.ID, readRepos); !d.Allowed {
			t.Fatal("A lost a grant that did not go through the revoked link")
		}

		// A's grant expiring (the orchestrator→A link) denies C when it expires, with no
		// further change.
		orch2 := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{perm("mcp:*", "read")}})
		a2 := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
		b2 := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
		c2 := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{}})
		until := f.clock().Add(time.Hour)
		if _, err := f.k.Delegations().Delegate(alice, api.DelegateRequest{FromAgentID: orch2.ID, ToAgentID: a2.ID,
			Permissions: []agent.Permission{perm("mcp:github:*", "read")}, ExpiresAt: &until}); err != nil {
			t.Fatal(err)
		}
		delegate(t, f, alice, a2.ID, b2.ID, 0, perm("mcp:github:*", "read"))
		delegate(t, f, alice, b2.ID, c2.ID, 0, perm("mcp:github:repos", "read"))
		if d := authorize(t, f, alice, c2.ID, readRepos); !d.Allowed {
			t.Fatal("C2 before expiry")
		}
		f.advance(time.Hour)
		if d := authorize(t, f, alice, c2.ID, readRepos); d.Allowed {
			t.Fatal("C2 is still allowed after A2's grant expired")
		}
		if d := authorize(t, f, alice, other.ID, readRepos); !d.Allowed {
			t.Fatal("an unrelated chain was affected by the expiry")
		}

		// Narrowing the orchestrator's permission removes what it no longer covers.
		orch3, _, _, c3, _ := chain()
		narrow := []agent.Permission{perm("mcp:slack:*", "read")}
		if _, err := f.k.Agents().Update(alice, orch3.ID, api.UpdateAgentRequest{Permissions: &narrow}); err != nil {
			t.Fatal(err)
		}
		if d := authorize(t, f, alice, c3.ID, readRepos); d.Allowed {
			t.Fatal("C3 is still allowed after the orchestrator's permission was narrowed")
		}
	})
}
