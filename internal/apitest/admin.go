package apitest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

func testTenants(t *testing.T, env Env) {
	k, ctx := env.As(t, root)
	acme := must(k.Tenants().Create(ctx, api.CreateTenantRequest{ID: "acme"}))
	if acme.ID != "acme" || acme.Name != "acme" || acme.CreatedAt.IsZero() {
		t.Fatalf("created tenant: %+v", acme)
	}
	got := must(k.Tenants().Get(ctx, "acme"))
	if got.ID != acme.ID || !got.CreatedAt.Equal(acme.CreatedAt) {
		t.Fatalf("get tenant: %+v", got)
	}
	ids := func(ts []agent.Tenant) []string {
		var out []string
		for _, x := range ts {
			out = append(out, x.ID)
		}
		return out
	}
	if list := must(k.Tenants().List(ctx)); !slices.Equal(ids(list), []string{"acme", agent.DefaultTenant}) {
		t.Fatalf("root lists %v", ids(list))
	}
	_, err := k.Tenants().Create(ctx, api.CreateTenantRequest{ID: "acme"})
	wantErr(t, "duplicate tenant", err, api.CodeConflict, "", "")
	_, err = k.Tenants().Create(ctx, api.CreateTenantRequest{ID: "Not A Slug"})
	wantErr(t, "bad tenant id", err, api.CodeInvalidInput, "id", "")
	_, err = k.Tenants().Get(ctx, "nowhere")
	wantErr(t, "unknown tenant", err, api.CodeNotFound, "", "")

	ak, actx := env.As(t, admin)
	_, err = ak.Tenants().Create(actx, api.CreateTenantRequest{ID: "mine"})
	wantErr(t, "admin creates a tenant", err, api.CodeForbidden, "", "")
	_, err = ak.Tenants().Get(actx, "acme")
	wantErr(t, "admin reads another tenant", err, api.CodeNotFound, "", "")
	if list := must(ak.Tenants().List(actx)); !slices.Equal(ids(list), []string{agent.DefaultTenant}) {
		t.Fatalf("an admin lists only its tenant, got %v", ids(list))
	}
}

func testAPIKeys(t *testing.T, env Env) {
	k, ctx := env.As(t, root)
	must(k.Tenants().Create(ctx, api.CreateTenantRequest{ID: "acme"}))

	acmeAdmin := must(k.APIKeys().Create(ctx, api.CreateAPIKeyRequest{Role: api.RoleAdmin, TenantID: "acme", Name: "ops"}))
	if !agent.WellFormedAPIKey(acmeAdmin.Key) || !strings.HasPrefix(acmeAdmin.ID, agent.PrefixAPIKeyID) ||
		acmeAdmin.Role != "admin" || acmeAdmin.TenantID != "acme" || acmeAdmin.Prefix != acmeAdmin.Key[:12] {
		t.Fatalf("created key: %+v", acmeAdmin)
	}
	rootKey := must(k.APIKeys().Create(ctx, api.CreateAPIKeyRequest{Role: api.RoleRoot}))
	if rootKey.TenantID != "" {
		t.Fatalf("a root key belongs to no tenant: %+v", rootKey)
	}

	ak, actx := env.As(t, admin)
	appKey := must(ak.APIKeys().Create(actx, api.CreateAPIKeyRequest{Role: api.RoleApp}))
	if appKey.TenantID != agent.DefaultTenant {
		t.Fatalf("an admin's key defaults to its tenant: %+v", appKey)
	}
	aliceKey := must(ak.APIKeys().Create(actx, api.CreateAPIKeyRequest{Role: api.RoleUser, OwnerID: "alice"}))
	bobKey := must(ak.APIKeys().Create(actx, api.CreateAPIKeyRequest{Role: api.RoleUser, OwnerID: "bob"}))

	uk, uctx := env.As(t, alice)
	pk, pctx := env.As(t, app)
	refused := []struct {
		what  string
		k     api.Kavach
		ctx   context.Context
		req   api.CreateAPIKeyRequest
		code  api.ErrorCode
		field string
	}{
		{"admin creates a root key", ak, actx, api.CreateAPIKeyRequest{Role: api.RoleRoot}, api.CodeForbidden, ""},
		{"admin creates a key in another tenant", ak, actx, api.CreateAPIKeyRequest{Role: api.RoleApp, TenantID: "acme"}, api.CodeForbidden, ""},
		{"user creates a key", uk, uctx, api.CreateAPIKeyRequest{Role: api.RoleUser, OwnerID: "alice"}, api.CodeForbidden, ""},
		{"app creates a key", pk, pctx, api.CreateAPIKeyRequest{Role: api.RoleApp}, api.CodeForbidden, ""},
		{"unknown role", k, ctx, api.CreateAPIKeyRequest{Role: "superuser"}, api.CodeInvalidInput, "role"},
		{"user key without owner", k, ctx, api.CreateAPIKeyRequest{Role: api.RoleUser}, api.CodeInvalidInput, "ownerId"},
		{"app key with an owner", k, ctx, api.CreateAPIKeyRequest{Role: api.RoleApp, OwnerID: "alice"}, api.CodeInvalidInput, "ownerId"},
		{"root key in a tenant", k, ctx, api.CreateAPIKeyRequest{Role: api.RoleRoot, TenantID: "acme"}, api.CodeInvalidInput, "tenantId"},
		{"unknown tenant", k, ctx, api.CreateAPIKeyRequest{Role: api.RoleAdmin, TenantID: "nowhere"}, api.CodeInvalidInput, "tenantId"},
	}
	for _, tc := range refused {
		_, err := tc.k.APIKeys().Create(tc.ctx, tc.req)
		wantErr(t, tc.what, err, tc.code, tc.field, "")
	}

	// Listings are checked by what they must and must not hold: an HTTP environment adds
	// the keys its callers use.
	listing := func(what string, l *api.APIKeyList, err error, has, lacks []*api.APIKeyWithSecret, each func(agent.APIKey) bool) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var ids []string
		for _, x := range l.Keys {
			ids = append(ids, x.ID)
			if !each(x) {
				t.Errorf("%s: unexpected key %+v", what, x)
			}
		}
		for _, x := range has {
			if !slices.Contains(ids, x.ID) {
				t.Errorf("%s: lacks %s (%s)", what, x.ID, x.Role)
			}
		}
		for _, x := range lacks {
			if slices.Contains(ids, x.ID) {
				t.Errorf("%s: shows %s (%s)", what, x.ID, x.Role)
			}
		}
		raw, _ := json.Marshal(l)
		for _, x := range append(has, lacks...) {
			if strings.Contains(string(raw), x.Key[len(x.Prefix):]) {
				t.Fatalf("%s: a listing carries a secret", what)
			}
		}
	}
	everyone := func(agent.APIKey) bool { return true }
	everyKey := []*api.APIKeyWithSecret{acmeAdmin, rootKey, appKey, aliceKey, bobKey}
	l, err := k.APIKeys().List(ctx, api.ListAPIKeysRequest{})
	listing("root", l, err, everyKey, nil, everyone)
	l, err = ak.APIKeys().List(actx, api.ListAPIKeysRequest{})
	listing("admin", l, err, []*api.APIKeyWithSecret{appKey, aliceKey, bobKey}, []*api.APIKeyWithSecret{acmeAdmin, rootKey},
		func(x agent.APIKey) bool { return x.TenantID == agent.DefaultTenant })
	l, err = k.APIKeys().List(ctx, api.ListAPIKeysRequest{TenantID: "acme"})
	listing("root narrowed to acme", l, err, []*api.APIKeyWithSecret{acmeAdmin}, []*api.APIKeyWithSecret{rootKey, appKey},
		func(x agent.APIKey) bool { return x.TenantID == "acme" })
	l, err = uk.APIKeys().List(uctx, api.ListAPIKeysRequest{})
	listing("user", l, err, []*api.APIKeyWithSecret{aliceKey}, []*api.APIKeyWithSecret{bobKey, appKey},
		func(x agent.APIKey) bool { return x.OwnerID == "alice" })
	_, err = uk.APIKeys().List(uctx, api.ListAPIKeysRequest{OwnerID: "bob"})
	wantErr(t, "user lists another owner's keys", err, api.CodeForbidden, "", "")
	_, err = pk.APIKeys().List(pctx, api.ListAPIKeysRequest{})
	wantErr(t, "app lists keys", err, api.CodeForbidden, "", "")
	_, err = ak.APIKeys().List(actx, api.ListAPIKeysRequest{TenantID: "acme"})
	wantErr(t, "admin lists another tenant's keys", err, api.CodeForbidden, "", "")

	_, err = ak.APIKeys().Revoke(actx, acmeAdmin.ID)
	wantErr(t, "admin revokes another tenant's key", err, api.CodeNotFound, "", "")
	_, err = ak.APIKeys().Revoke(actx, rootKey.ID)
	wantErr(t, "admin revokes a root key", err, api.CodeNotFound, "", "")
	_, err = uk.APIKeys().Revoke(uctx, bobKey.ID)
	wantErr(t, "user revokes another owner's key", err, api.CodeNotFound, "", "")
	_, err = pk.APIKeys().Revoke(pctx, aliceKey.ID)
	wantErr(t, "app revokes a key", err, api.CodeForbidden, "", "")
	_, err = k.APIKeys().Revoke(ctx, "key_missing")
	wantErr(t, "unknown key", err, api.CodeNotFound, "", "")

	revoked := must(uk.APIKeys().Revoke(uctx, aliceKey.ID))
	if revoked.RevokedAt == nil || revoked.ID != aliceKey.ID {
		t.Fatalf("a user revokes its own key: %+v", revoked)
	}
	again := must(ak.APIKeys().Revoke(actx, aliceKey.ID))
	if again.RevokedAt == nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Fatalf("revoking twice keeps the first time: %+v", again)
	}
	must(k.APIKeys().Revoke(ctx, acmeAdmin.ID))
}
