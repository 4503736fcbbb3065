package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

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
	if _, _, err := s.AgentByTokenHash(ctx, agent.HashToken("kv_nope"), now()); !errors.Is(err, store.ErrNotFound) {
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
	got, _, err := s.AgentByTokenHash(ctx, hash, now())
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
	if _, _, err := s.AgentByTokenHash(ctx, old, now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old token must stop at once: %v", err)
	}
	if b, _, err := s.AgentByTokenHash(ctx, fresh, now()); err != nil || b.ID != a.ID {
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
	if _, validUntil, err := s.AgentByTokenHash(ctx, old, t0.Add(30*time.Second)); err != nil || !validUntil.Equal(until) {
		t.Fatalf("old token must work during the grace period, until %v: %v, %v", until, validUntil, err)
	}
	if _, validUntil, err := s.AgentByTokenHash(ctx, fresh, t0); err != nil || !validUntil.IsZero() {
		t.Fatalf("the current token must have no end: %v, %v", validUntil, err)
	}
	if _, _, err := s.AgentByTokenHash(ctx, old, until); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old token must stop when the grace period ends: %v", err)
	}
	// A second rotation without grace ends every earlier token, graced or not.
	newest := agent.HashToken(agent.MintToken())
	if _, err := s.RotateToken(ctx, a.ID, newest, "kv_newestpx", time.Time{}, t0); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{old, fresh} {
		if _, _, err := s.AgentByTokenHash(ctx, h, t0); !errors.Is(err, store.ErrNotFound) {
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

func testAllAgents(t *testing.T, s store.Store) {
	if err := s.CreateTenant(ctx, &agent.Tenant{ID: "acme", Name: "Acme", CreatedAt: now()}); err != nil {
		t.Fatal(err)
	}
	var want []*agent.Agent
	for i := range 5 {
		tenant := agent.DefaultTenant
		if i%2 == 1 {
			tenant = "acme"
		}
		a := NewAgent(tenant, "user_1")
		mustCreate(t, s, a)
		want = append(want, a)
	}
	var got []*agent.Agent
	if err := s.AllAgents(ctx, func(a *agent.Agent) error { got = append(got, a); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("AllAgents gave %d agents, want %d", len(got), len(want))
	}
	for i := range want {
		equalAgents(t, got[i], want[i])
	}

	boom := errors.New("boom")
	calls := 0
	err := s.AllAgents(ctx, func(*agent.Agent) error {
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
