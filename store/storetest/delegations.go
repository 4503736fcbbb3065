package storetest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// NewDelegation returns an active, direct delegation from one agent to another, created
// now, handing on a narrowed copy of from's first permission with a constraint of its own.
// It expires in an hour. It is not stored.
func NewDelegation(from, to *agent.Agent) *agent.Delegation {
	ts := now()
	exp := ts.Add(time.Hour)
	return &agent.Delegation{
		ID: agent.NewID(agent.PrefixDelegation), TenantID: from.TenantID, FromAgentID: from.ID, ToAgentID: to.ID,
		Permissions: []agent.Permission{
			{ID: agent.NewID(agent.PrefixPermission), Resource: "mcp:github:repos", Actions: []string{"read"},
				Constraints: &agent.Constraints{
					RateLimit:        &agent.RateLimit{Max: 5, Window: agent.Duration(time.Minute)},
					ArgumentPatterns: map[string]string{"branch": "feature-.*"},
				}},
		},
		Depth: 1, MaxDepth: agent.DefaultMaxDepth, ExpiresAt: &exp,
		Status: agent.DelegationActive, CreatedBy: from.OwnerID, CreatedAt: ts,
	}
}

func mustDelegate(t *testing.T, s store.Store, d *agent.Delegation) {
	t.Helper()
	if err := s.CreateDelegation(ctx, d); err != nil {
		t.Fatalf("CreateDelegation: %v", err)
	}
}

func equalDelegations(t *testing.T, got, want *agent.Delegation) {
	t.Helper()
	if g, w := dumpDelegation(got), dumpDelegation(want); g != w {
		t.Fatalf("delegation differs:\n got  %s\n want %s", g, w)
	}
}

// dumpDelegation renders a delegation as JSON with times in UTC.
func dumpDelegation(d *agent.Delegation) string {
	c := *d
	c.CreatedAt = c.CreatedAt.UTC()
	for _, p := range []**time.Time{&c.ExpiresAt, &c.RevokedAt} {
		if *p != nil {
			u := (*p).UTC()
			*p = &u
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func testDelegationRoundTrip(t *testing.T, s store.Store) {
	alice, bob := NewAgent(agent.DefaultTenant, "alice"), NewAgent(agent.DefaultTenant, "alice")
	mustCreate(t, s, alice)
	mustCreate(t, s, bob)
	full := NewDelegation(alice, bob)
	full.Permissions = append(full.Permissions, agent.Permission{
		ID: agent.NewID(agent.PrefixPermission), Resource: "mcp:github:issues", Actions: []string{"read", "write"}})
	full.Depth, full.MaxDepth = 2, 5

	revokedAt := now().Add(time.Minute)
	bare := NewDelegation(bob, alice)
	bare.ExpiresAt, bare.CreatedBy = nil, ""
	bare.Status, bare.RevokedAt = agent.DelegationRevoked, &revokedAt
	for _, d := range []*agent.Delegation{full, bare} {
		mustDelegate(t, s, d)
		got, err := s.GetDelegation(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		equalDelegations(t, got, d)
	}
	if got, _ := s.GetDelegation(ctx, bare.ID); got.ExpiresAt != nil {
		t.Fatalf("nil expiry came back as %v", got.ExpiresAt)
	}
	if got, _ := s.GetDelegation(ctx, full.ID); got.RevokedAt != nil {
		t.Fatalf("nil revocation time came back as %v", got.RevokedAt)
	}
}

func testDelegationCreateConflicts(t *testing.T, s store.Store) {
	alice, bob := NewAgent(agent.DefaultTenant, "alice"), NewAgent(agent.DefaultTenant, "alice")
	mustCreate(t, s, alice)
	mustCreate(t, s, bob)
	d := NewDelegation(alice, bob)
	mustDelegate(t, s, d)

	dup := NewDelegation(alice, bob)
	dup.ID = d.ID
	if err := s.CreateDelegation(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate id: want ErrConflict, got %v", err)
	}
	ghost := NewAgent(agent.DefaultTenant, "alice")
	unknownFrom, unknownTo, unknownTenant := NewDelegation(ghost, bob), NewDelegation(alice, ghost), NewDelegation(alice, bob)
	unknownTenant.TenantID = "no-such-tenant"
	for name, d := range map[string]*agent.Delegation{
		"unknown from agent": unknownFrom, "unknown to agent": unknownTo, "unknown tenant": unknownTenant,
	} {
		if err := s.CreateDelegation(ctx, d); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: want ErrNotFound, got %v", name, err)
		}
	}
	list, err := s.ListDelegations(ctx, store.DelegationFilter{TenantID: agent.DefaultTenant})
	if err != nil || len(list) != 1 {
		t.Fatalf("failed creates must write nothing: %d delegations, %v", len(list), err)
	}
}

func testDelegationNotFound(t *testing.T, s store.Store) {
	if _, err := s.GetDelegation(ctx, "dlg_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetDelegation: want ErrNotFound, got %v", err)
	}
	called := false
	_, err := s.UpdateDelegation(ctx, "dlg_missing", func(*agent.Delegation) error { called = true; return nil })
	if !errors.Is(err, store.ErrNotFound) || called {
		t.Fatalf("UpdateDelegation: want ErrNotFound without calling fn, got %v (called %v)", err, called)
	}
}

// delegationFixture stores delegations in two tenants, some revoked, and returns them in
// id order. Creation times are out of id order, with a tie, so that listings must sort by
// time first.
func delegationFixture(t *testing.T, s store.Store) (ds []*agent.Delegation, agents map[string]*agent.Agent) {
	t.Helper()
	if err := s.CreateTenant(ctx, &agent.Tenant{ID: "acme", Name: "Acme", CreatedAt: now()}); err != nil {
		t.Fatal(err)
	}
	agents = map[string]*agent.Agent{
		"alice": NewAgent(agent.DefaultTenant, "u1"), "bob": NewAgent(agent.DefaultTenant, "u1"),
		"carol": NewAgent(agent.DefaultTenant, "u2"), "dave": NewAgent("acme", "u1"), "erin": NewAgent("acme", "u1"),
	}
	for _, name := range []string{"alice", "bob", "carol", "dave", "erin"} {
		mustCreate(t, s, agents[name])
	}
	t0 := now()
	links := []struct {
		from, to string
		revoked  bool
		offset   time.Duration
	}{
		{"alice", "bob", false, 3 * time.Second},
		{"bob", "carol", false, time.Second},
		{"alice", "carol", true, time.Second},
		{"alice", "bob", true, 0},
		{"dave", "erin", false, 2 * time.Second},
		{"dave", "erin", true, time.Second},
	}
	for i, l := range links {
		d := NewDelegation(agents[l.from], agents[l.to])
		d.CreatedAt = t0.Add(l.offset)
		if l.from == "bob" {
			d.Depth = 2
		}
		if l.revoked {
			at := t0.Add(time.Hour)
			d.Status, d.RevokedAt = agent.DelegationRevoked, &at
		}
		d.Permissions[0].Resource = fmt.Sprintf("mcp:github:repo%d", i)
		mustDelegate(t, s, d)
		ds = append(ds, d)
	}
	return ds, agents
}

// oldestIDs returns the ids of the delegations that keep says to, oldest first.
func oldestIDs(ds []*agent.Delegation, keep func(*agent.Delegation) bool) []string {
	var kept []*agent.Delegation
	for _, d := range ds {
		if keep(d) {
			kept = append(kept, d)
		}
	}
	slices.SortFunc(kept, func(a, b *agent.Delegation) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	var ids []string
	for _, d := range kept {
		ids = append(ids, d.ID)
	}
	return ids
}

func testListDelegations(t *testing.T, s store.Store) {
	ds, agents := delegationFixture(t, s)
	alice, bob, carol, dave := agents["alice"].ID, agents["bob"].ID, agents["carol"].ID, agents["dave"].ID
	inDefault := func(d *agent.Delegation) bool { return d.TenantID == agent.DefaultTenant }
	cases := []struct {
		f    store.DelegationFilter
		want []string
	}{
		{store.DelegationFilter{TenantID: agent.DefaultTenant}, oldestIDs(ds, inDefault)},
		{store.DelegationFilter{TenantID: "acme"}, []string{ds[5].ID, ds[4].ID}},
		{store.DelegationFilter{TenantID: agent.DefaultTenant, AgentID: alice, Direction: store.DirectionFrom},
			[]string{ds[3].ID, ds[2].ID, ds[0].ID}},
		{store.DelegationFilter{TenantID: agent.DefaultTenant, AgentID: carol, Direction: store.DirectionTo},
			[]string{ds[1].ID, ds[2].ID}},
		{store.DelegationFilter{TenantID: agent.DefaultTenant, AgentID: alice, Direction: store.DirectionTo}, nil},
		{store.DelegationFilter{TenantID: agent.DefaultTenant, AgentID: bob},
			[]string{ds[3].ID, ds[1].ID, ds[0].ID}},
		{store.DelegationFilter{TenantID: agent.DefaultTenant, AgentID: bob, Status: agent.DelegationActive},
			[]string{ds[1].ID, ds[0].ID}},
		{store.DelegationFilter{TenantID: agent.DefaultTenant, Status: agent.DelegationRevoked},
			[]string{ds[3].ID, ds[2].ID}},
		{store.DelegationFilter{TenantID: agent.DefaultTenant, AgentID: alice, Direction: store.DirectionFrom,
			Status: agent.DelegationActive}, []string{ds[0].ID}},
		// Another tenant's agent is not visible from this one.
		{store.DelegationFilter{TenantID: agent.DefaultTenant, AgentID: dave}, nil},
		{store.DelegationFilter{TenantID: agent.DefaultTenant, Limit: 2}, []string{ds[3].ID, ds[1].ID}},
	}
	for _, c := range cases {
		list, err := s.ListDelegations(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range list {
			got = append(got, d.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%+v: got %v, want %v", c.f, got, c.want)
		}
	}
	list, err := s.ListDelegations(ctx, store.DelegationFilter{TenantID: agent.DefaultTenant, AgentID: alice, Direction: store.DirectionFrom})
	if err != nil || len(list) != 3 {
		t.Fatalf("list from alice: %v, %v", list, err)
	}
	equalDelegations(t, list[2], ds[0])
	if _, err := s.ListDelegations(ctx, store.DelegationFilter{TenantID: agent.DefaultTenant, AgentID: alice, Direction: "sideways"}); err == nil {
		t.Fatal("an unknown direction must fail")
	}
}

func testUpdateDelegation(t *testing.T, s store.Store) {
	alice, bob := NewAgent(agent.DefaultTenant, "alice"), NewAgent(agent.DefaultTenant, "alice")
	mustCreate(t, s, alice)
	mustCreate(t, s, bob)
	d := NewDelegation(alice, bob)
	mustDelegate(t, s, d)

	// Narrowing: fewer actions, a sooner expiry.
	sooner := d.ExpiresAt.Add(-30 * time.Minute)
	got, err := s.UpdateDelegation(ctx, d.ID, func(x *agent.Delegation) error {
		x.Permissions[0].Actions = []string{"list"}
		x.Permissions[0].Constraints = nil
		x.ExpiresAt = &sooner
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reread, err := s.GetDelegation(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalDelegations(t, reread, got)
	if fmt.Sprint(reread.Permissions[0].Actions) != "[list]" || reread.Permissions[0].Constraints != nil ||
		!reread.ExpiresAt.Equal(sooner) {
		t.Fatalf("narrowing not persisted: %+v", reread)
	}

	revokedAt := d.CreatedAt.Add(time.Minute)
	got, err = s.UpdateDelegation(ctx, d.ID, func(x *agent.Delegation) error {
		x.Status, x.RevokedAt, x.ExpiresAt = agent.DelegationRevoked, &revokedAt, nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reread, err = s.GetDelegation(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalDelegations(t, reread, got)
	if reread.Status != agent.DelegationRevoked || reread.RevokedAt == nil || !reread.RevokedAt.Equal(revokedAt) ||
		reread.ExpiresAt != nil {
		t.Fatalf("revocation not persisted: %+v", reread)
	}
	if reread.TenantID != d.TenantID || reread.FromAgentID != alice.ID || reread.ToAgentID != bob.ID ||
		!reread.CreatedAt.Equal(d.CreatedAt) || reread.Depth != d.Depth || reread.MaxDepth != d.MaxDepth {
		t.Fatal("update changed identity fields")
	}
}

func testUpdateDelegationFailure(t *testing.T, s store.Store) {
	alice, bob := NewAgent(agent.DefaultTenant, "alice"), NewAgent(agent.DefaultTenant, "alice")
	mustCreate(t, s, alice)
	mustCreate(t, s, bob)
	d := NewDelegation(alice, bob)
	mustDelegate(t, s, d)
	boom := errors.New("boom")
	at := now()
	_, err := s.UpdateDelegation(ctx, d.ID, func(x *agent.Delegation) error {
		x.Status, x.RevokedAt, x.Permissions = agent.DelegationRevoked, &at, nil
		return boom
	})
	if err != boom {
		t.Fatalf("the callback's error must come back unchanged, got %v", err)
	}
	got, err := s.GetDelegation(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalDelegations(t, got, d)
}

func testConcurrentDelegationUpdates(t *testing.T, s store.Store) {
	alice, bob := NewAgent(agent.DefaultTenant, "alice"), NewAgent(agent.DefaultTenant, "alice")
	mustCreate(t, s, alice)
	mustCreate(t, s, bob)
	d := NewDelegation(alice, bob)
	mustDelegate(t, s, d)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateDelegation(ctx, d.ID, func(x *agent.Delegation) error {
				x.Permissions = append(x.Permissions, agent.Permission{
					ID: fmt.Sprintf("perm_%02d", i), Resource: "mcp:github:repos", Actions: []string{"read"}})
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent update failed: %v", err)
		}
	}
	got, err := s.GetDelegation(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Permissions) != n+1 {
		t.Fatalf("lost updates: %d of %d permissions survived", len(got.Permissions), n+1)
	}
}

func testAllDelegations(t *testing.T, s store.Store) {
	ds, _ := delegationFixture(t, s)
	var want []*agent.Delegation
	for _, d := range ds {
		if d.Status == agent.DelegationActive {
			want = append(want, d)
		}
	}
	var got []*agent.Delegation
	if err := s.AllDelegations(ctx, func(d *agent.Delegation) error { got = append(got, d); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("AllDelegations gave %d delegations, want the %d active ones", len(got), len(want))
	}
	for i := range want {
		equalDelegations(t, got[i], want[i])
	}
	if got[len(got)-1].TenantID != "acme" {
		t.Fatal("AllDelegations must cross tenants")
	}

	boom := errors.New("boom")
	calls := 0
	err := s.AllDelegations(ctx, func(*agent.Delegation) error {
		calls++
		if calls == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls != 2 {
		t.Fatalf("an error from fn must stop the walk and come back: %d calls, %v", calls, err)
	}
}
