package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// newAPIKey returns a key of the given role, not yet stored, and the hash of its secret.
func newAPIKey(tenant, owner, role string) (*agent.APIKey, string) {
	secret := agent.MintAPIKey()
	return &agent.APIKey{
		ID: agent.NewID(agent.PrefixAPIKeyID), TenantID: tenant, OwnerID: owner, Role: role,
		Name: role + " key", Prefix: agent.DisplayPrefix(secret), CreatedBy: "root", CreatedAt: now(),
	}, agent.HashToken(secret)
}

func mustCreateKey(t *testing.T, s store.Store, tenant, owner, role string) (*agent.APIKey, string) {
	t.Helper()
	k, hash := newAPIKey(tenant, owner, role)
	if err := s.CreateAPIKey(ctx, k, hash); err != nil {
		t.Fatalf("CreateAPIKey(%s): %v", role, err)
	}
	return k, hash
}

func equalKeys(t *testing.T, got, want *agent.APIKey) {
	t.Helper()
	g, w := *got, *want
	g.CreatedAt, w.CreatedAt = g.CreatedAt.UTC(), w.CreatedAt.UTC()
	if g.RevokedAt != nil && w.RevokedAt != nil && g.RevokedAt.Equal(*w.RevokedAt) {
		g.RevokedAt = w.RevokedAt
	}
	if g != w {
		t.Fatalf("API key differs:\n got  %+v\n want %+v", g, w)
	}
}

func testAPIKeyRoundTrip(t *testing.T, s store.Store) {
	for _, tc := range []struct{ tenant, owner, role string }{
		{"", "", "root"},
		{agent.DefaultTenant, "", "admin"},
		{agent.DefaultTenant, "", "app"},
		{agent.DefaultTenant, "user_1", "user"},
	} {
		k, hash := mustCreateKey(t, s, tc.tenant, tc.owner, tc.role)
		got, err := s.GetAPIKey(ctx, k.ID)
		if err != nil {
			t.Fatalf("GetAPIKey(%s): %v", tc.role, err)
		}
		equalKeys(t, got, k)
		byHash, err := s.APIKeyByHash(ctx, hash)
		if err != nil {
			t.Fatalf("APIKeyByHash(%s): %v", tc.role, err)
		}
		equalKeys(t, byHash, k)
	}
	if _, err := s.GetAPIKey(ctx, "key_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetAPIKey: want ErrNotFound, got %v", err)
	}
	if _, err := s.APIKeyByHash(ctx, agent.HashToken(agent.MintAPIKey())); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("APIKeyByHash: want ErrNotFound, got %v", err)
	}
}

func testAPIKeyCreateConflicts(t *testing.T, s store.Store) {
	k, hash := mustCreateKey(t, s, agent.DefaultTenant, "", "admin")
	dupID, _ := newAPIKey(agent.DefaultTenant, "", "admin")
	dupID.ID = k.ID
	if err := s.CreateAPIKey(ctx, dupID, agent.HashToken(agent.MintAPIKey())); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate id: want ErrConflict, got %v", err)
	}
	dupHash, _ := newAPIKey(agent.DefaultTenant, "", "admin")
	if err := s.CreateAPIKey(ctx, dupHash, hash); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate hash: want ErrConflict, got %v", err)
	}
	unknown, h := newAPIKey("no-such-tenant", "", "admin")
	if err := s.CreateAPIKey(ctx, unknown, h); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown tenant: want ErrNotFound, got %v", err)
	}
	all, err := s.ListAPIKeys(ctx, store.APIKeyFilter{AllTenants: true})
	if err != nil || len(all) != 1 {
		t.Fatalf("failed creates must write nothing: %d keys, %v", len(all), err)
	}
}

func testListAPIKeys(t *testing.T, s store.Store) {
	if err := s.CreateTenant(ctx, &agent.Tenant{ID: "acme", Name: "Acme", CreatedAt: now()}); err != nil {
		t.Fatal(err)
	}
	root, _ := mustCreateKey(t, s, "", "", "root")
	admin, _ := mustCreateKey(t, s, agent.DefaultTenant, "", "admin")
	u1, _ := mustCreateKey(t, s, agent.DefaultTenant, "user_1", "user")
	u2, _ := mustCreateKey(t, s, agent.DefaultTenant, "user_2", "user")
	acme, _ := mustCreateKey(t, s, "acme", "", "app")
	ids := func(ks []*agent.APIKey) []string {
		out := make([]string, len(ks))
		for i, k := range ks {
			out[i] = k.ID
		}
		return out
	}
	cases := []struct {
		name string
		f    store.APIKeyFilter
		want []string
	}{
		{"one tenant", store.APIKeyFilter{TenantID: agent.DefaultTenant}, []string{admin.ID, u1.ID, u2.ID}},
		{"other tenant", store.APIKeyFilter{TenantID: "acme"}, []string{acme.ID}},
		{"empty tenant means root keys only", store.APIKeyFilter{}, []string{root.ID}},
		{"all tenants", store.APIKeyFilter{AllTenants: true}, []string{root.ID, admin.ID, u1.ID, u2.ID, acme.ID}},
		{"one owner", store.APIKeyFilter{TenantID: agent.DefaultTenant, OwnerID: "user_2"}, []string{u2.ID}},
		{"limit", store.APIKeyFilter{AllTenants: true, Limit: 2}, []string{root.ID, admin.ID}},
	}
	for _, tc := range cases {
		got, err := s.ListAPIKeys(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if g := ids(got); !slices.Equal(g, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, g, tc.want)
		}
	}
}

func testRevokeAPIKey(t *testing.T, s store.Store) {
	k, hash := mustCreateKey(t, s, agent.DefaultTenant, "user_1", "user")
	first := now()
	got, err := s.RevokeAPIKey(ctx, k.ID, first)
	if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(first) {
		t.Fatalf("RevokeAPIKey: %+v, %v", got, err)
	}
	again, err := s.RevokeAPIKey(ctx, k.ID, first.Add(time.Hour))
	if err != nil || again.RevokedAt == nil || !again.RevokedAt.Equal(first) {
		t.Fatalf("revoking twice must keep the first time: %+v, %v", again, err)
	}
	byHash, err := s.APIKeyByHash(ctx, hash)
	if err != nil || !byHash.Revoked() {
		t.Fatalf("a revoked key is still found by hash, marked revoked: %+v, %v", byHash, err)
	}
	if _, err := s.RevokeAPIKey(ctx, "key_missing", first); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RevokeAPIKey: want ErrNotFound, got %v", err)
	}
}

func testBootstrapAPIKey(t *testing.T, s store.Store) {
	const callers = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		errs    []error
	)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, hash := newAPIKey("", "", "root")
			ok, err := s.BootstrapAPIKey(ctx, k, hash)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				created++
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 || created != 1 {
		t.Fatalf("concurrent bootstraps: %d created, errors %v; want exactly one", created, errs)
	}
	all, err := s.ListAPIKeys(ctx, store.APIKeyFilter{AllTenants: true})
	if err != nil || len(all) != 1 {
		t.Fatalf("want one stored key: %d, %v", len(all), err)
	}
	// A revoked key still counts: the bootstrap key is made once per database.
	if _, err := s.RevokeAPIKey(ctx, all[0].ID, now()); err != nil {
		t.Fatal(err)
	}
	k, hash := newAPIKey("", "", "root")
	if ok, err := s.BootstrapAPIKey(ctx, k, hash); ok || err != nil {
		t.Fatalf("bootstrap with a key present: created=%v err=%v", ok, err)
	}
}
