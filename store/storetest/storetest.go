// Package storetest is the conformance suite every store backend must pass. A backend's
// tests call Run with a constructor that returns a fresh, migrated, empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// NewStore returns a fresh, migrated store that the test owns.
type NewStore func(t *testing.T) store.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"CreateAndGetRoundTrip", testCreateGet},
		{"CreateConflicts", testCreateConflicts},
		{"NotFound", testNotFound},
		{"TokenLookup", testTokenLookup},
		{"RotateWithoutGrace", testRotateNoGrace},
		{"RotateWithGrace", testRotateGrace},
		{"ListPaginatesInStableOrder", testListPaginates},
		{"ListFilters", testListFilters},
		{"ListRejectsBadCursor", testListBadCursor},
		{"Update", testUpdate},
		{"UpdateFailureWritesNothing", testUpdateFailure},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"Tenants", testTenants},
		{"MigrateIsIdempotent", testMigrateIdempotent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

var ctx = context.Background()

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// NewAgent returns a valid agent with a rich permission set, not yet stored.
func NewAgent(tenant, owner string) *agent.Agent {
	ts := now()
	exp := ts.Add(24 * time.Hour)
	return &agent.Agent{
		ID: agent.NewID(agent.PrefixAgent), TenantID: tenant, OwnerID: owner, Name: "reviewer",
		Type: agent.TypeAutonomous, Status: agent.StatusActive, TokenPrefix: "kv_abcdefgh",
		ExpiresAt: &exp,
		Permissions: []agent.Permission{
			{ID: agent.NewID(agent.PrefixPermission), Resource: "mcp:github:*", Actions: []string{"read", "write"},
				Constraints: &agent.Constraints{
					RateLimit:        &agent.RateLimit{Max: 10, Window: agent.Duration(time.Minute)},
					TimeWindows:      []agent.TimeWindow{{Days: []string{"mon", "fri"}, Start: "22:00", End: "06:00", Timezone: "Europe/Berlin"}},
					IPAllowlist:      []string{"10.0.0.0/8", "2001:db8::/32"},
					ArgumentPatterns: map[string]string{"branch": "dev-.*"},
					Approval:         &agent.Approval{Required: true, TTL: agent.Duration(time.Hour), Approvers: []string{"user_2"}},
				}},
			{ID: agent.NewID(agent.PrefixPermission), Resource: "*", Actions: []string{"*"}},
		},
		Metadata:  map[string]string{"team": "platform"},
		CreatedAt: ts, UpdatedAt: ts,
	}
}

func mustCreate(t *testing.T, s store.Store, a *agent.Agent) string {
	t.Helper()
	hash := agent.HashToken(agent.MintToken())
	if err := s.CreateAgent(ctx, a, hash); err != nil {
		t.Fatalf("CreateAgent: %v", err)
	}
	return hash
}

func equalAgents(t *testing.T, got, want *agent.Agent) {
	t.Helper()
	if g, w := dump(got), dump(want); g != w {
		t.Fatalf("agent differs:\n got  %s\n want %s", g, w)
	}
}

// dump renders an agent as JSON with times in UTC, so that two agents compare by value.
func dump(a *agent.Agent) string {
	c := a.Clone()
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if c.ExpiresAt != nil {
		e := c.ExpiresAt.UTC()
		c.ExpiresAt = &e
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func testCreateGet(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	got, err := s.GetAgent(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalAgents(t, got, a)
	// An agent with no expiry, permissions or metadata round-trips too.
	b := NewAgent(agent.DefaultTenant, "user_1")
	b.ExpiresAt, b.Permissions, b.Metadata = nil, nil, nil
	mustCreate(t, s, b)
	got, err = s.GetAgent(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExpiresAt != nil || len(got.Permissions) != 0 || len(got.Metadata) != 0 {
		t.Fatalf("empty fields came back filled: %+v", got)
	}
}

func testCreateConflicts(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	hash := mustCreate(t, s, a)
	dupID := NewAgent(agent.DefaultTenant, "user_1")
	dupID.ID = a.ID
	if err := s.CreateAgent(ctx, dupID, agent.HashToken(agent.MintToken())); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate id: want ErrConflict, got %v", err)
	}
	if err := s.CreateAgent(ctx, NewAgent(agent.DefaultTenant, "user_1"), hash); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate token hash: want ErrConflict, got %v", err)
	}
	if err := s.CreateAgent(ctx, NewAgent("no-such-tenant", "user_1"), agent.HashToken(agent.MintToken())); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown tenant: want ErrNotFound, got %v", err)
	}
	list, _, err := s.ListAgents(ctx, store.AgentFilter{TenantID: agent.DefaultTenant})
	if err != nil || len(list) != 1 {
		t.Fatalf("failed creates must write nothing: %d agents, %v", len(list), err)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	if _, err := s.GetAgent(ctx, "agt_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetAgent: want ErrNotFound, got %v", err)
	}
	if _, err := s.AgentByTokenHash(ctx, agent.HashToken("kv_nope"), now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AgentByTokenHash: want ErrNotFound, got %v", err)
	}
	if _, err := s.UpdateAgent(ctx, "agt_missing", func(*agent.Agent) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateAgent: want ErrNotFound, got %v", err)
	}
	if _, err := s.RotateToken(ctx, "agt_missing", "h", "p", time.Time{}, now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RotateToken: want ErrNotFound, got %v", err)
	}
	if _, err := s.GetTenant(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetTenant: want ErrNotFound, got %v", err)
	}
}

func testTokenLookup(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	hash := mustCreate(t, s, a)
	mustCreate(t, s, NewAgent(agent.DefaultTenant, "user_1"))
	got, err := s.AgentByTokenHash(ctx, hash, now())
	if err != nil || got.ID != a.ID {
		t.Fatalf("lookup by hash: %v, %v", got, err)
	}
}

func testRotateNoGrace(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	old := mustCreate(t, s, a)
	fresh := agent.HashToken(agent.MintToken())
	got, err := s.RotateToken(ctx, a.ID, fresh, "kv_newprefx", time.Time{}, now())
	if err != nil {
		t.Fatal(err)
	}
	if got.TokenPrefix != "kv_newprefx" {
		t.Fatalf("prefix not updated: %q", got.TokenPrefix)
	}
	if _, err := s.AgentByTokenHash(ctx, old, now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old token must stop at once: %v", err)
	}
	if b, err := s.AgentByTokenHash(ctx, fresh, now()); err != nil || b.ID != a.ID {
		t.Fatalf("new token must work: %v", err)
	}
}

func testRotateGrace(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	old := mustCreate(t, s, a)
	t0 := now()
	until := t0.Add(time.Minute)
	fresh := agent.HashToken(agent.MintToken())
	if _, err := s.RotateToken(ctx, a.ID, fresh, "kv_newprefx", until, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AgentByTokenHash(ctx, old, t0.Add(30*time.Second)); err != nil {
		t.Fatalf("old token must work during the grace period: %v", err)
	}
	if _, err := s.AgentByTokenHash(ctx, old, until); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old token must stop when the grace period ends: %v", err)
	}
	// A second rotation without grace ends every earlier token, graced or not.
	newest := agent.HashToken(agent.MintToken())
	if _, err := s.RotateToken(ctx, a.ID, newest, "kv_newestpx", time.Time{}, t0); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{old, fresh} {
		if _, err := s.AgentByTokenHash(ctx, h, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("earlier token must stop after rotation without grace: %v", err)
		}
	}
}

func testListPaginates(t *testing.T, s store.Store) {
	var want []string
	for range 7 {
		a := NewAgent(agent.DefaultTenant, "user_1")
		mustCreate(t, s, a)
		want = append(want, a.ID)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		list, next, err := s.ListAgents(ctx, store.AgentFilter{TenantID: agent.DefaultTenant, Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > 3 {
			t.Fatalf("page of %d exceeds the limit", len(list))
		}
		for _, a := range list {
			got = append(got, a.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages gave %v, want %v in creation order", got, want)
	}
}

func testListFilters(t *testing.T, s store.Store) {
	if err := s.CreateTenant(ctx, &agent.Tenant{ID: "acme", Name: "Acme", CreatedAt: now()}); err != nil {
		t.Fatal(err)
	}
	a1 := NewAgent(agent.DefaultTenant, "alice")
	a2 := NewAgent(agent.DefaultTenant, "alice")
	b1 := NewAgent(agent.DefaultTenant, "bob")
	c1 := NewAgent("acme", "alice")
	for _, a := range []*agent.Agent{a1, a2, b1, c1} {
		mustCreate(t, s, a)
	}
	if _, err := s.UpdateAgent(ctx, a2.ID, func(a *agent.Agent) error { a.Status = agent.StatusRevoked; return nil }); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		f    store.AgentFilter
		want []string
	}{
		{store.AgentFilter{TenantID: agent.DefaultTenant}, []string{a1.ID, a2.ID, b1.ID}},
		{store.AgentFilter{TenantID: agent.DefaultTenant, OwnerID: "alice"}, []string{a1.ID, a2.ID}},
		{store.AgentFilter{TenantID: agent.DefaultTenant, OwnerID: "alice", Status: agent.StatusActive}, []string{a1.ID}},
		{store.AgentFilter{TenantID: agent.DefaultTenant, Status: agent.StatusRevoked}, []string{a2.ID}},
		{store.AgentFilter{TenantID: "acme"}, []string{c1.ID}},
		{store.AgentFilter{TenantID: "acme", OwnerID: "bob"}, nil},
	}
	for _, c := range cases {
		list, next, err := s.ListAgents(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range list {
			got = append(got, a.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) || next != "" {
			t.Errorf("%+v: got %v (next %q), want %v", c.f, got, next, c.want)
		}
	}
}

func testListBadCursor(t *testing.T, s store.Store) {
	_, _, err := s.ListAgents(ctx, store.AgentFilter{TenantID: agent.DefaultTenant, Cursor: "%%%not-base64"})
	if !errors.Is(err, store.ErrInvalidCursor) {
		t.Fatalf("want ErrInvalidCursor, got %v", err)
	}
}

func testUpdate(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	later := a.UpdatedAt.Add(time.Second)
	got, err := s.UpdateAgent(ctx, a.ID, func(x *agent.Agent) error {
		x.Name = "renamed"
		x.Permissions = x.Permissions[:1]
		x.ExpiresAt = nil
		x.UpdatedAt = later
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reread, err := s.GetAgent(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalAgents(t, reread, got)
	if reread.Name != "renamed" || len(reread.Permissions) != 1 || reread.ExpiresAt != nil || !reread.UpdatedAt.Equal(later) {
		t.Fatalf("update not persisted: %+v", reread)
	}
	if !reread.CreatedAt.Equal(a.CreatedAt) || reread.ID != a.ID || reread.TenantID != a.TenantID {
		t.Fatal("update changed identity fields")
	}
}

func testUpdateFailure(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	boom := errors.New("boom")
	_, err := s.UpdateAgent(ctx, a.ID, func(x *agent.Agent) error { x.Name = "changed"; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("the callback's error must come back, got %v", err)
	}
	got, _ := s.GetAgent(ctx, a.ID)
	if got.Name != "reviewer" {
		t.Fatal("a failed update wrote")
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	a.Metadata = map[string]string{}
	mustCreate(t, s, a)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateAgent(ctx, a.ID, func(x *agent.Agent) error {
				if x.Metadata == nil {
					x.Metadata = map[string]string{}
				}
				x.Metadata[fmt.Sprintf("k%02d", i)] = "v"
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
	got, err := s.GetAgent(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Metadata) != n {
		t.Fatalf("lost updates: %d of %d keys survived: %v", len(got.Metadata), n, got.Metadata)
	}
}

func testTenants(t *testing.T, s store.Store) {
	def, err := s.GetTenant(ctx, agent.DefaultTenant)
	if err != nil || def.ID != agent.DefaultTenant {
		t.Fatalf("the default tenant must exist after migration: %v", err)
	}
	acme := &agent.Tenant{ID: "acme", Name: "Acme Corp", CreatedAt: now()}
	if err := s.CreateTenant(ctx, acme); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, &agent.Tenant{ID: "acme", Name: "again", CreatedAt: now()}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate tenant: want ErrConflict, got %v", err)
	}
	got, err := s.GetTenant(ctx, "acme")
	if err != nil || got.Name != "Acme Corp" || !got.CreatedAt.Equal(acme.CreatedAt) {
		t.Fatalf("GetTenant: %+v, %v", got, err)
	}
	list, err := s.ListTenants(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "acme" || list[1].ID != agent.DefaultTenant {
		t.Fatalf("ListTenants (by id): %+v, %v", list, err)
	}
}

func testMigrateIdempotent(t *testing.T, s store.Store) {
	n, err := s.Migrate(ctx)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate applied %d, %v; want 0, nil", n, err)
	}
}
