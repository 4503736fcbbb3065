package apitest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

func testAgentLifecycle(t *testing.T, env Env) {
	k, ctx := env.As(t, alice)
	ag := k.Agents()
	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	created := must(ag.Create(ctx, api.CreateAgentRequest{
		Name: "reviewer", ExpiresAt: &exp, Metadata: map[string]string{"team": "platform"},
		Permissions: []agent.Permission{
			{Resource: "mcp:github:*", Actions: []string{"read"}},
			{Resource: "mcp:slack:*", Actions: []string{"post"}, Constraints: &agent.Constraints{
				RateLimit: &agent.RateLimit{Max: 5, Window: agent.Duration(time.Minute)}}},
		},
	}))
	switch {
	case !agent.WellFormedToken(created.Token), !strings.HasPrefix(created.ID, agent.PrefixAgent),
		created.OwnerID != "alice", created.TenantID != agent.DefaultTenant, created.Type != agent.TypeAutonomous,
		created.Status != agent.StatusActive, created.TokenPrefix != created.Token[:11],
		created.ExpiresAt == nil || !created.ExpiresAt.Equal(exp), created.Metadata["team"] != "platform",
		len(created.Permissions) != 2 || !strings.HasPrefix(created.Permissions[0].ID, agent.PrefixPermission),
		created.Permissions[1].Constraints.RateLimit.Window.D() != time.Minute:
		t.Fatalf("created agent: %+v", created)
	}
	got := must(ag.Get(ctx, created.ID))
	if got.ID != created.ID || got.Name != "reviewer" || len(got.Permissions) != 2 || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("get: %+v", got)
	}
	if v := must(ag.ValidateToken(ctx, created.Token)); v.ID != created.ID {
		t.Fatalf("the token names %s", v.ID)
	}

	// An update that keeps a permission's resource and actions keeps its id.
	kept := created.Permissions[0]
	updated := must(ag.Update(ctx, created.ID, api.UpdateAgentRequest{
		Name:        ptr("renamed"),
		Permissions: &[]agent.Permission{{Resource: kept.Resource, Actions: kept.Actions}, {Resource: "mcp:jira:*", Actions: []string{"read"}}},
	}))
	if updated.Name != "renamed" || updated.Permissions[0].ID != kept.ID || updated.Permissions[1].ID == created.Permissions[1].ID {
		t.Fatalf("update: %+v", updated)
	}

	rot := must(ag.Rotate(ctx, created.ID, api.RotateRequest{}))
	if !agent.WellFormedToken(rot.Token) || rot.Token == created.Token || rot.Agent.TokenPrefix != rot.Token[:11] {
		t.Fatalf("rotate: %+v", rot)
	}
	_, err := ag.ValidateToken(ctx, created.Token)
	wantErr(t, "old token after rotation", err, api.CodeUnauthenticated, "", string(api.TokenInvalid))
	graced := must(ag.Rotate(ctx, created.ID, api.RotateRequest{GracePeriod: agent.Duration(time.Hour)}))
	must(ag.ValidateToken(ctx, rot.Token)) // still valid within the grace period
	must(ag.ValidateToken(ctx, graced.Token))
	_, err = ag.Rotate(ctx, created.ID, api.RotateRequest{GracePeriod: agent.Duration(30 * 24 * time.Hour)})
	wantErr(t, "grace period too long", err, api.CodeInvalidInput, "gracePeriod", "")

	revoked := must(ag.Revoke(ctx, created.ID))
	if revoked.Status != agent.StatusRevoked {
		t.Fatalf("revoke: %+v", revoked)
	}
	must(ag.Revoke(ctx, created.ID)) // revoking twice is not an error
	_, err = ag.ValidateToken(ctx, graced.Token)
	wantErr(t, "token of a revoked agent", err, api.CodeUnauthenticated, "", string(api.AgentRevoked))
	_, err = ag.Update(ctx, created.ID, api.UpdateAgentRequest{Name: ptr("again")})
	wantErr(t, "update a revoked agent", err, api.CodeConflict, "", "")
	_, err = ag.Rotate(ctx, created.ID, api.RotateRequest{})
	wantErr(t, "rotate a revoked agent", err, api.CodeConflict, "", "")
	_, err = ag.ValidateToken(ctx, "kv_garbage")
	wantErr(t, "garbage token", err, api.CodeUnauthenticated, "", string(api.TokenInvalid))

	bad := []struct {
		what  string
		req   api.CreateAgentRequest
		field string
	}{
		{"empty name", api.CreateAgentRequest{Permissions: perms("a", "b")}, "name"},
		{"bad type", api.CreateAgentRequest{Name: "n", Type: "robot"}, "type"},
		{"bad resource", api.CreateAgentRequest{Name: "n", Permissions: perms("mcp:git*", "read")}, "permissions[0].resource"},
		{"bad IP", api.CreateAgentRequest{Name: "n", Permissions: []agent.Permission{{Resource: "a", Actions: []string{"b"},
			Constraints: &agent.Constraints{IPAllowlist: []string{"nope"}}}}}, "permissions[0].constraints.ipAllowlist[0]"},
		{"past expiry", api.CreateAgentRequest{Name: "n", ExpiresAt: ptr(time.Now().Add(-time.Hour))}, "expiresAt"},
	}
	for _, tc := range bad {
		_, err := ag.Create(ctx, tc.req)
		wantErr(t, tc.what, err, api.CodeInvalidInput, tc.field, "")
	}
	_, err = ag.Get(ctx, "agt_missing")
	wantErr(t, "unknown agent", err, api.CodeNotFound, "", "")
}

func testListAgents(t *testing.T, env Env) {
	k, ctx := env.As(t, admin)
	var ids []string
	for i, owner := range []string{"alice", "bob", "alice", "carol", "alice"} {
		a := newAgent(t, k, ctx, owner, perms("x", "read"))
		ids = append(ids, a.ID)
		if i == 1 {
			must(k.Agents().Revoke(ctx, a.ID))
		}
	}
	var paged []string
	cursor := ""
	for range 10 {
		page := must(k.Agents().List(ctx, api.ListAgentsRequest{Limit: 2, Cursor: cursor}))
		for _, a := range page.Agents {
			paged = append(paged, a.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(paged, ids) {
		t.Fatalf("paging: got %v, want %v", paged, ids)
	}
	cases := []struct {
		req  api.ListAgentsRequest
		want []string
	}{
		{api.ListAgentsRequest{OwnerID: "alice"}, []string{ids[0], ids[2], ids[4]}},
		{api.ListAgentsRequest{Status: agent.StatusRevoked}, []string{ids[1]}},
		{api.ListAgentsRequest{OwnerID: "dave"}, nil},
	}
	for _, tc := range cases {
		var got []string
		for _, a := range must(k.Agents().List(ctx, tc.req)).Agents {
			got = append(got, a.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.req, got, tc.want)
		}
	}
	bad := []struct {
		req   api.ListAgentsRequest
		field string
	}{
		{api.ListAgentsRequest{Cursor: "!!"}, "cursor"},
		{api.ListAgentsRequest{Limit: 5000}, "limit"},
		{api.ListAgentsRequest{Status: "sleeping"}, "status"},
	}
	for _, tc := range bad {
		_, err := k.Agents().List(ctx, tc.req)
		wantErr(t, "list "+tc.field, err, api.CodeInvalidInput, tc.field, "")
	}
}

func testOwnerIsolation(t *testing.T, env Env) {
	ak, actx := env.As(t, alice)
	bk, bctx := env.As(t, bob)
	a := newAgent(t, ak, actx, "", perms("mcp:github:*", "read"))
	newAgent(t, bk, bctx, "", perms("mcp:github:*", "read"))
	ag := bk.Agents()
	notFound := map[string]error{}
	_, notFound["get"] = ag.Get(bctx, a.ID)
	_, notFound["update"] = ag.Update(bctx, a.ID, api.UpdateAgentRequest{Name: ptr("pwned")})
	_, notFound["rotate"] = ag.Rotate(bctx, a.ID, api.RotateRequest{})
	_, notFound["revoke"] = ag.Revoke(bctx, a.ID)
	for what, err := range notFound {
		wantErr(t, "bob "+what+"s alice's agent", err, api.CodeNotFound, "", "")
	}
	_, err := ag.ValidateToken(bctx, a.Token)
	wantErr(t, "bob resolves alice's token", err, api.CodeUnauthenticated, "", string(api.TokenInvalid))
	_, err = ag.List(bctx, api.ListAgentsRequest{OwnerID: "alice"})
	wantErr(t, "bob lists alice's agents", err, api.CodeForbidden, "", "")
	_, err = ag.Create(bctx, api.CreateAgentRequest{OwnerID: "alice", Name: "x", Permissions: perms("a", "b")})
	wantErr(t, "bob creates for alice", err, api.CodeForbidden, "", "")
	for _, x := range must(ag.List(bctx, api.ListAgentsRequest{})).Agents {
		if x.OwnerID != "bob" {
			t.Errorf("bob's listing shows %s's agent", x.OwnerID)
		}
	}
	d := must(bk.Authorize(bctx, a.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}, api.CallContext{}))
	wantDecision(t, "bob authorizes alice's agent", d, nil, api.AgentNotFound)
	if got := must(ak.Agents().Get(actx, a.ID)); got.Name != "reviewer" || got.Status != agent.StatusActive {
		t.Fatalf("alice's agent changed: %+v", got)
	}
}

func testTenantIsolation(t *testing.T, env Env) {
	rk, rctx := env.As(t, root)
	must(rk.Tenants().Create(rctx, api.CreateTenantRequest{ID: "acme"}))
	acme := api.Actor{Role: api.RoleAdmin, TenantID: "acme"}
	xk, xctx := env.As(t, acme)
	dk, dctx := env.As(t, admin)
	theirs := newAgent(t, dk, dctx, "alice", perms("mcp:github:*", "read"))
	mine := newAgent(t, xk, xctx, "alice", perms("mcp:github:*", "read"))
	if mine.TenantID != "acme" {
		t.Fatalf("an acme admin's agent belongs to %s", mine.TenantID)
	}
	_, err := xk.Agents().Get(xctx, theirs.ID)
	wantErr(t, "acme admin reads a default agent", err, api.CodeNotFound, "", "")
	_, err = xk.Agents().Revoke(xctx, theirs.ID)
	wantErr(t, "acme admin revokes a default agent", err, api.CodeNotFound, "", "")
	_, err = xk.Agents().List(xctx, api.ListAgentsRequest{TenantID: agent.DefaultTenant})
	wantErr(t, "acme admin lists default", err, api.CodeForbidden, "", "")
	_, err = xk.Agents().Create(xctx, api.CreateAgentRequest{TenantID: agent.DefaultTenant, OwnerID: "o", Name: "n"})
	wantErr(t, "acme admin creates in default", err, api.CodeForbidden, "", "")
	d := must(xk.Authorize(xctx, theirs.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}, api.CallContext{}))
	wantDecision(t, "acme admin authorizes a default agent", d, nil, api.AgentNotFound)
	for _, x := range must(dk.Agents().List(dctx, api.ListAgentsRequest{})).Agents {
		if x.TenantID != agent.DefaultTenant {
			t.Errorf("default's listing shows an agent of %s", x.TenantID)
		}
	}
	// Root reaches into any tenant by naming it.
	if l := must(rk.Agents().List(rctx, api.ListAgentsRequest{TenantID: "acme"})); len(l.Agents) != 1 || l.Agents[0].ID != mine.ID {
		t.Fatalf("root lists acme: %+v", l.Agents)
	}
}

func testAppCannotManage(t *testing.T, env Env) {
	ak, actx := env.As(t, alice)
	a := newAgent(t, ak, actx, "", perms("mcp:github:*", "read"))
	b := newAgent(t, ak, actx, "", perms("mcp:github:*", "read"))
	pk, pctx := env.As(t, app)
	if got := must(pk.Agents().Get(pctx, a.ID)); got.ID != a.ID {
		t.Fatal("an app reads its tenant's agents")
	}
	d := must(pk.Authorize(pctx, a.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}, api.CallContext{}))
	wantDecision(t, "app authorizes", d, nil, api.Allowed)
	forbidden := map[string]error{}
	_, forbidden["create"] = pk.Agents().Create(pctx, api.CreateAgentRequest{OwnerID: "alice", Name: "n"})
	_, forbidden["update"] = pk.Agents().Update(pctx, a.ID, api.UpdateAgentRequest{Name: ptr("x")})
	_, forbidden["rotate"] = pk.Agents().Rotate(pctx, a.ID, api.RotateRequest{})
	_, forbidden["revoke"] = pk.Agents().Revoke(pctx, a.ID)
	_, forbidden["delegate"] = pk.Delegations().Delegate(pctx, api.DelegateRequest{FromAgentID: a.ID, ToAgentID: b.ID, Permissions: perms("mcp:github:repos", "read")})
	_, forbidden["create a tenant"] = pk.Tenants().Create(pctx, api.CreateTenantRequest{ID: "mine"})
	for what, err := range forbidden {
		wantErr(t, "app may not "+what, err, api.CodeForbidden, "", "")
	}
}
