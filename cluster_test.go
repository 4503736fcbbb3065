package kavach_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// twoInstances opens two Kavach instances over one Postgres schema, as two servers
// behind a load balancer would run.
func twoInstances(t *testing.T) (a, b *kavach.Kavach) {
	t.Helper()
	return twoInstancesOn(t, pgtest.URL(t))
}

// twoInstancesOn opens two Kavach instances over one database: with a SQLite file, as a
// server and the CLI beside it would.
func twoInstancesOn(t testing.TB, url string) (a, b *kavach.Kavach) {
	t.Helper()
	open := func() *kavach.Kavach {
		k, err := kavach.Open(context.Background(), kavach.Config{Database: url, Audit: kavach.AuditConfig{SigningKey: testAuditKey}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		return k
	}
	a, b = open(), open()
	for _, k := range []*kavach.Kavach{a, b} {
		waitUntilSynced(t, k)
	}
	return a, b
}

func waitUntilSynced(t testing.TB, k *kavach.Kavach) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if synced, _, _, _ := k.FeedStatus(); synced {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the instance never synced with the change feed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// propagation waits until decide reports want on the other instance and returns how long
// that took.
func propagation(t *testing.T, decide func() *api.Decision, want func(*api.Decision) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !want(decide()) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the change never reached the other instance")
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// TestChangesPropagateBetweenInstances: revoking an agent, rotating its token, revoking a
// delegation and narrowing a permission on A are refused on B. It logs the p99 of the
// time B takes to follow (docs/performance.md reports it).
func TestChangesPropagateBetweenInstances(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { testChangesPropagate(t, pgtest.URL(t)) })
	t.Run("sqlite", func(t *testing.T) {
		testChangesPropagate(t, "sqlite://"+filepath.Join(t.TempDir(), "kavach.db"))
	})
}

func testChangesPropagate(t *testing.T, url string) {
	a, b := twoInstancesOn(t, url)
	read := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}
	onB := func(id string) func() *api.Decision {
		return func() *api.Decision {
			d, err := b.Authorize(root, id, read, api.CallContext{})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	denied := func(d *api.Decision) bool { return !d.Allowed }
	allowed := func(d *api.Decision) bool { return d.Allowed }
	trials := 25
	if testing.Short() {
		trials = 5
	}
	var waits []time.Duration
	for range trials {
		// Created on A, usable on B.
		x, err := a.Agents().Create(root, api.CreateAgentRequest{OwnerID: "o", Name: "x", Permissions: []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}}})
		if err != nil {
			t.Fatal(err)
		}
		propagation(t, onB(x.ID), allowed)

		// Narrowing a permission on A.
		narrow := []agent.Permission{{Resource: "mcp:slack:*", Actions: []string{"read"}}}
		if _, err := a.Agents().Update(root, x.ID, api.UpdateAgentRequest{Permissions: &narrow}); err != nil {
			t.Fatal(err)
		}
		waits = append(waits, propagation(t, onB(x.ID), denied))

		// Revoking a delegation on A.
		child, _ := a.Agents().Create(root, api.CreateAgentRequest{OwnerID: "o", Name: "c", Permissions: []agent.Permission{}})
		d, err := a.Delegations().Delegate(root, api.DelegateRequest{FromAgentID: x.ID, ToAgentID: child.ID,
			Permissions: []agent.Permission{{Resource: "mcp:slack:general", Actions: []string{"read"}}}})
		if err != nil {
			t.Fatal(err)
		}
		slack := func() *api.Decision {
			dd, _ := b.Authorize(root, child.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:slack:general"}, api.CallContext{})
			return dd
		}
		propagation(t, slack, allowed)
		if _, err := a.Delegations().Revoke(root, d.ID); err != nil {
			t.Fatal(err)
		}
		waits = append(waits, propagation(t, slack, denied))

		// Rotating the token on A: the old token is refused by B (tokens are looked up in
		// the shared store).
		rot, err := a.Agents().Rotate(root, x.ID, api.RotateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if dd, _ := b.AuthorizeToken(root, x.Token, read, api.CallContext{}); dd.Code != api.TokenInvalid {
			t.Fatalf("the old token on B after rotation on A: %s", dd.Code)
		}
		if dd, _ := b.AuthorizeToken(root, rot.Token, api.AuthorizeRequest{Action: "read", Resource: "mcp:slack:x"}, api.CallContext{}); !dd.Allowed {
			t.Fatalf("the new token on B: %s", dd.Code)
		}

		// Revoking the agent on A.
		if _, err := a.Agents().Revoke(root, x.ID); err != nil {
			t.Fatal(err)
		}
		waits = append(waits, propagation(t, func() *api.Decision {
			dd, _ := b.Authorize(root, x.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:slack:x"}, api.CallContext{})
			return dd
		}, func(d *api.Decision) bool { return d.Code == api.AgentRevoked }))
	}
	slices.Sort(waits)
	t.Logf("propagation over %d changes: p50 %v, p99 %v, max %v", len(waits),
		waits[len(waits)/2], waits[len(waits)*99/100], waits[len(waits)-1])
}

// A rate limit and a one-use approval hold across instances: they live in Postgres.
func TestRateLimitsAndApprovalsAreSharedAcrossInstances(t *testing.T) {
	a, b := twoInstances(t)
	x, err := a.Agents().Create(root, api.CreateAgentRequest{OwnerID: "o", Name: "x", Permissions: []agent.Permission{
		{Resource: "mcp:github:*", Actions: []string{"read"}, Constraints: &agent.Constraints{RateLimit: &agent.RateLimit{Max: 10, Window: agent.Duration(time.Minute)}}},
		{Resource: "mcp:github:*", Actions: []string{"push"}, Constraints: &agent.Constraints{Approval: &agent.Approval{Required: true}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(k *kavach.Kavach) {
		propagation(t, func() *api.Decision {
			d, _ := k.Authorize(root, x.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:x", DryRun: true}, api.CallContext{})
			return d
		}, func(d *api.Decision) bool { return d.Allowed })
	}
	waitFor(b)
	results := make(chan bool, 60)
	for i := range 60 {
		k := a
		if i%2 == 1 {
			k = b
		}
		go func() {
			d, err := k.Authorize(root, x.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:x"}, api.CallContext{})
			results <- err == nil && d.Allowed
		}()
	}
	allowed := 0
	for range 60 {
		if <-results {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("two instances admitted %d calls under a limit of 10 per minute", allowed)
	}

	push := api.AuthorizeRequest{Action: "push", Resource: "mcp:github:x"}
	d, _ := a.Authorize(root, x.ID, push, api.CallContext{})
	if _, err := b.Approvals().Approve(root, d.ApprovalID, api.ApproveRequest{}); err != nil {
		t.Fatal(err)
	}
	uses := make(chan bool, 10)
	for i := range 10 {
		k := a
		if i%2 == 1 {
			k = b
		}
		go func() {
			d, _ := k.Authorize(root, x.ID, push, api.CallContext{})
			uses <- d.Allowed
		}()
	}
	used := 0
	for range 10 {
		if <-uses {
			used++
		}
	}
	if used != 1 {
		t.Fatalf("a one-use approval was used %d times across two instances", used)
	}
}

// TestOwnCommitReachesTheEngineThroughTheFeed: a change committed to this instance's own
// SQLite file whose engine update never happened (the caller went away after the commit)
// still takes effect: the feed announces every commit, this process's included.
func TestOwnCommitReachesTheEngineThroughTheFeed(t *testing.T) {
	k, err := kavach.Open(context.Background(), kavach.Config{Database: "sqlite://" + filepath.Join(t.TempDir(), "k.db"),
		Audit: kavach.AuditConfig{SigningKey: testAuditKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	x, err := k.Agents().Create(root, api.CreateAgentRequest{OwnerID: "o", Name: "x", Permissions: []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Store().UpdateAgent(context.Background(), x.ID, func(a *agent.Agent) error {
		a.Status = agent.StatusRevoked
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	propagation(t, func() *api.Decision {
		d, _ := k.Authorize(root, x.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}, api.CallContext{})
		return d
	}, func(d *api.Decision) bool { return d.Code == api.AgentRevoked })
}
