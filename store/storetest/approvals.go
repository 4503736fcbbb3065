package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// NewApproval returns a pending request, created at, for a call of a's first permission
// with args. It is not stored.
func NewApproval(a *agent.Agent, resource string, args map[string]any, at time.Time) *agent.ApprovalRequest {
	hash, err := agent.HashArguments(args)
	if err != nil {
		panic(err)
	}
	return &agent.ApprovalRequest{
		ID: agent.NewID(agent.PrefixApproval), TenantID: a.TenantID, AgentID: a.ID, OwnerID: a.OwnerID,
		PermissionID: a.Permissions[0].ID, Action: "write", Resource: resource,
		ArgsHash: hash, Arguments: args, Approvers: []string{"user_2", "user_3"},
		GrantTTL: agent.Duration(90 * time.Minute), Status: agent.ApprovalPending,
		ExpiresAt: at.Add(15 * time.Minute), CreatedAt: at,
	}
}

func mustOpen(t *testing.T, s store.Store, r *agent.ApprovalRequest, at time.Time) *agent.ApprovalRequest {
	t.Helper()
	got, created, err := s.OpenApproval(ctx, r, at)
	if err != nil {
		t.Fatalf("OpenApproval: %v", err)
	}
	if !created || got.ID != r.ID {
		t.Fatalf("OpenApproval did not create %s: got %s (created %v)", r.ID, got.ID, created)
	}
	return got
}

func equalApprovals(t *testing.T, got, want *agent.ApprovalRequest) {
	t.Helper()
	if g, w := dumpApproval(got), dumpApproval(want); g != w {
		t.Fatalf("approval differs:\n got  %s\n want %s", g, w)
	}
}

// dumpApproval renders a request as JSON, grant TTL included and times in UTC.
func dumpApproval(r *agent.ApprovalRequest) string {
	c := *r
	c.ExpiresAt, c.CreatedAt = c.ExpiresAt.UTC(), c.CreatedAt.UTC()
	for _, p := range []**time.Time{&c.DecidedAt, &c.GrantExpiresAt} {
		if *p != nil {
			u := (*p).UTC()
			*p = &u
		}
	}
	b, err := json.Marshal(struct {
		agent.ApprovalRequest
		GrantTTL time.Duration
	}{c, c.GrantTTL.D()})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func testApprovalRoundTrip(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	t0 := now()
	args := map[string]any{"branch": "dev", "force": true, "n": 3.5, "nested": map[string]any{"list": []any{"x", 1.0}}}
	full := NewApproval(a, "mcp:github:repos", args, t0)
	bare := NewApproval(a, "mcp:github:issues", nil, t0.Add(time.Microsecond))
	bare.Approvers, bare.GrantTTL = nil, 0
	empty := NewApproval(a, "mcp:github:wikis", map[string]any{}, t0.Add(2*time.Microsecond))
	for _, r := range []*agent.ApprovalRequest{full, bare, empty} {
		equalApprovals(t, mustOpen(t, s, r, t0), r)
		got, err := s.GetApproval(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		equalApprovals(t, got, r)
		latest, err := s.CurrentApproval(ctx, r.Key(), now())
		if err != nil {
			t.Fatal(err)
		}
		equalApprovals(t, latest, r)
	}
	if got, _ := s.GetApproval(ctx, bare.ID); got.Arguments != nil {
		t.Fatalf("nil arguments came back as %#v", got.Arguments)
	}
	if got, _ := s.GetApproval(ctx, empty.ID); got.Arguments == nil {
		t.Fatal("empty arguments came back nil")
	}
}

func testOpenApprovalReuses(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	t0 := now()
	first := mustOpen(t, s, NewApproval(a, "mcp:github:repos", map[string]any{"branch": "dev"}, t0), t0)

	// The same call again, while the first request is pending, gets the first request.
	t1 := t0.Add(time.Minute)
	again, created, err := s.OpenApproval(ctx, NewApproval(a, "mcp:github:repos", map[string]any{"branch": "dev"}, t1), t1)
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("repeat call: got %v (created %v), %v; want %s", again, created, err, first.ID)
	}
	// Other arguments are another request.
	mustOpen(t, s, NewApproval(a, "mcp:github:repos", map[string]any{"branch": "main"}, t1), t1)

	// Once the first request has lapsed, the same call opens a new one.
	t2 := first.ExpiresAt
	fresh := mustOpen(t, s, NewApproval(a, "mcp:github:repos", map[string]any{"branch": "dev"}, t2), t2)
	old, err := s.GetApproval(ctx, first.ID)
	if err != nil || old.EffectiveStatus(t2) != agent.ApprovalExpired {
		t.Fatalf("lapsed request: %+v, %v", old, err)
	}
	latest, err := s.CurrentApproval(ctx, first.Key(), t2)
	if err != nil || latest.ID != fresh.ID {
		t.Fatalf("CurrentApproval: %v, %v; want %s", latest, err, fresh.ID)
	}

	// A request that is not pending cannot be opened.
	decided := NewApproval(a, "mcp:github:other", nil, t0)
	decided.Status = agent.ApprovalApproved
	if _, _, err := s.OpenApproval(ctx, decided, t0); err == nil {
		t.Fatal("opening a non-pending request must fail")
	}
}

func testOpenApprovalConcurrent(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	t0 := now()
	const n = 20
	type result struct {
		id      string
		created bool
		err     error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, created, err := s.OpenApproval(ctx, NewApproval(a, "mcp:github:repos", map[string]any{"branch": "dev"}, t0), t0)
			if err != nil {
				results <- result{err: err}
				return
			}
			results <- result{id: r.ID, created: created}
		})
	}
	wg.Wait()
	close(results)
	ids := map[string]bool{}
	created := 0
	for r := range results {
		if r.err != nil {
			t.Fatalf("concurrent OpenApproval: %v", r.err)
		}
		ids[r.id] = true
		if r.created {
			created++
		}
	}
	if created != 1 || len(ids) != 1 {
		t.Fatalf("%d callers created a request and they saw %d ids; want 1 and 1", created, len(ids))
	}
}

func testUpdateApproval(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	t0 := now()
	r := mustOpen(t, s, NewApproval(a, "mcp:github:repos", map[string]any{"branch": "dev"}, t0), t0)

	decided := t0.Add(time.Minute)
	grantEnd := decided.Add(r.GrantTTL.D())
	got, err := s.UpdateApproval(ctx, r.ID, func(x *agent.ApprovalRequest) error {
		x.Status, x.DecidedBy, x.DecidedAt, x.Reason = agent.ApprovalApproved, "user_2", &decided, "looks fine"
		x.UsesLeft, x.GrantExpiresAt = 2, &grantEnd
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reread, err := s.GetApproval(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalApprovals(t, reread, got)
	if reread.Status != agent.ApprovalApproved || reread.UsesLeft != 2 || !reread.GrantExpiresAt.Equal(grantEnd) ||
		!reread.DecidedAt.Equal(decided) || reread.DecidedBy != "user_2" || reread.Reason != "looks fine" {
		t.Fatalf("update not persisted: %+v", reread)
	}
	// Approved, the request no longer holds its key: the same call may open a new one.
	mustOpen(t, s, NewApproval(a, "mcp:github:repos", map[string]any{"branch": "dev"}, decided), decided)

	boom := errors.New("boom")
	_, err = s.UpdateApproval(ctx, r.ID, func(x *agent.ApprovalRequest) error { x.UsesLeft = 99; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("the callback's error must come back, got %v", err)
	}
	if again, _ := s.GetApproval(ctx, r.ID); again.UsesLeft != 2 {
		t.Fatal("a failed update wrote")
	}
}

func testApprovalNotFound(t *testing.T, s store.Store) {
	if _, err := s.GetApproval(ctx, "apr_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetApproval: want ErrNotFound, got %v", err)
	}
	if _, err := s.CurrentApproval(ctx, "no-such-key", now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CurrentApproval: want ErrNotFound, got %v", err)
	}
	if _, err := s.UpdateApproval(ctx, "apr_missing", func(*agent.ApprovalRequest) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateApproval: want ErrNotFound, got %v", err)
	}
	ghost := NewApproval(NewAgent(agent.DefaultTenant, "user_1"), "mcp:x", nil, now())
	if _, _, err := s.OpenApproval(ctx, ghost, now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("OpenApproval for an unknown agent: want ErrNotFound, got %v", err)
	}
}

// approvalFixture stores requests in every effective state, created one second apart,
// and returns them oldest first with the time to judge them at.
func approvalFixture(t *testing.T, s store.Store) (reqs []*agent.ApprovalRequest, at time.Time) {
	t.Helper()
	if err := s.CreateTenant(ctx, &agent.Tenant{ID: "acme", Name: "Acme", CreatedAt: now()}); err != nil {
		t.Fatal(err)
	}
	alice, bob, other := NewAgent(agent.DefaultTenant, "alice"), NewAgent(agent.DefaultTenant, "bob"), NewAgent("acme", "alice")
	for _, a := range []*agent.Agent{alice, bob, other} {
		mustCreate(t, s, a)
	}
	t0 := now()
	at = t0.Add(time.Hour)
	past, future := at.Add(-time.Minute), at.Add(time.Hour)
	type state struct {
		a        *agent.Agent
		status   agent.ApprovalStatus
		expires  time.Time
		uses     int
		grantEnd *time.Time
	}
	states := []state{
		{alice, agent.ApprovalPending, future, 0, nil},
		{bob, agent.ApprovalPending, past, 0, nil},
		{alice, agent.ApprovalApproved, past, 1, &future},
		{bob, agent.ApprovalApproved, past, 1, nil},
		{bob, agent.ApprovalApproved, past, 0, &future},
		{alice, agent.ApprovalApproved, past, 3, &past},
		{bob, agent.ApprovalDenied, future, 0, nil},
		{alice, agent.ApprovalDenied, past, 0, nil},
		{alice, agent.ApprovalExpired, future, 0, nil},
		{other, agent.ApprovalPending, future, 0, nil},
	}
	for i, st := range states {
		created := t0.Add(time.Duration(i) * time.Second)
		r := NewApproval(st.a, fmt.Sprintf("mcp:github:repo%d", i), nil, created)
		r.ExpiresAt = st.expires
		if st.a == bob {
			r.Approvers = []string{"carol"}
		}
		mustOpen(t, s, r, created)
		r, err := s.UpdateApproval(ctx, r.ID, func(x *agent.ApprovalRequest) error {
			x.Status, x.UsesLeft, x.GrantExpiresAt = st.status, st.uses, st.grantEnd
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, r)
	}
	return reqs, at
}

// newestIDs returns the ids of the requests that keep says to, newest first.
func newestIDs(reqs []*agent.ApprovalRequest, keep func(*agent.ApprovalRequest) bool) []string {
	var ids []string
	for i := len(reqs) - 1; i >= 0; i-- {
		if keep(reqs[i]) {
			ids = append(ids, reqs[i].ID)
		}
	}
	return ids
}

func approvalIDs(t *testing.T, s store.Store, f store.ApprovalFilter) []string {
	t.Helper()
	list, err := s.ListApprovals(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range list {
		ids = append(ids, r.ID)
	}
	return ids
}

func testListApprovals(t *testing.T, s store.Store) {
	reqs, at := approvalFixture(t, s)
	alice := reqs[0].AgentID
	inDefault := func(r *agent.ApprovalRequest) bool { return r.TenantID == agent.DefaultTenant }
	cases := []struct {
		f    store.ApprovalFilter
		want []string
	}{
		{store.ApprovalFilter{TenantID: agent.DefaultTenant}, newestIDs(reqs, inDefault)},
		{store.ApprovalFilter{TenantID: "acme"}, []string{reqs[9].ID}},
		{store.ApprovalFilter{TenantID: agent.DefaultTenant, AgentID: alice},
			newestIDs(reqs, func(r *agent.ApprovalRequest) bool { return inDefault(r) && r.AgentID == alice })},
		{store.ApprovalFilter{TenantID: agent.DefaultTenant, Visible: "bob"},
			newestIDs(reqs, func(r *agent.ApprovalRequest) bool { return inDefault(r) && r.OwnerID == "bob" })},
		// carol approves bob's requests; user_2 is an approver of alice's.
		{store.ApprovalFilter{TenantID: agent.DefaultTenant, Visible: "carol"},
			newestIDs(reqs, func(r *agent.ApprovalRequest) bool { return inDefault(r) && r.OwnerID == "bob" })},
		{store.ApprovalFilter{TenantID: agent.DefaultTenant, Visible: "user_2", Status: agent.ApprovalPending, Now: at},
			[]string{reqs[0].ID}},
		{store.ApprovalFilter{TenantID: agent.DefaultTenant, Visible: "nobody"}, nil},
		{store.ApprovalFilter{TenantID: agent.DefaultTenant, Limit: 2}, []string{reqs[8].ID, reqs[7].ID}},
	}
	for _, c := range cases {
		if got := approvalIDs(t, s, c.f); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%+v: got %v, want %v", c.f, got, c.want)
		}
	}
}

func testListApprovalsByStatus(t *testing.T, s store.Store) {
	reqs, at := approvalFixture(t, s)
	for _, st := range []agent.ApprovalStatus{agent.ApprovalPending, agent.ApprovalApproved, agent.ApprovalDenied,
		agent.ApprovalExpired, agent.ApprovalUsed} {
		want := newestIDs(reqs, func(r *agent.ApprovalRequest) bool {
			return r.TenantID == agent.DefaultTenant && r.EffectiveStatus(at) == st
		})
		if len(want) == 0 {
			t.Fatalf("the fixture has no %s request", st)
		}
		got := approvalIDs(t, s, store.ApprovalFilter{TenantID: agent.DefaultTenant, Status: st, Now: at})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("status %s at %s: got %v, want %v", st, at, got, want)
		}
	}
}

// A decision taken on a request is not hidden by a newer pending request for the same call
// (opened, say, by a call racing with the approver).
func testCurrentApprovalPrefersDecisions(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	t0 := now()
	first := mustOpen(t, s, NewApproval(a, "mcp:github:repos", nil, t0), t0)
	until := t0.Add(time.Hour)
	if _, err := s.UpdateApproval(ctx, first.ID, func(r *agent.ApprovalRequest) error {
		r.Status, r.UsesLeft, r.GrantExpiresAt = agent.ApprovalApproved, 1, &until
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Second)
	newer := mustOpen(t, s, NewApproval(a, "mcp:github:repos", nil, t1), t1)
	if cur, err := s.CurrentApproval(ctx, first.Key(), t1); err != nil || cur.ID != first.ID {
		t.Fatalf("an approval with uses left must govern: got %v, %v", cur, err)
	}
	// Once the approval is spent, the newest request governs again.
	if _, err := s.Consume(ctx, store.Consumption{Now: t1, ApprovalID: first.ID}); err != nil {
		t.Fatal(err)
	}
	if cur, err := s.CurrentApproval(ctx, first.Key(), t1); err != nil || cur.ID != newer.ID {
		t.Fatalf("after the approval is used: got %v, %v; want %s", cur, err, newer.ID)
	}
}
