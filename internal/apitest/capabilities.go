package apitest

import (
	"slices"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// testCapabilities: an agent's effective grants, own and delegated with their chain and
// constraints; a revoked delegation's grants disappear at once; isolation as Get.
func testCapabilities(t *testing.T, env Env) {
	k, ctx := env.As(t, alice)
	parent := must(k.Agents().Create(ctx, api.CreateAgentRequest{Name: "orchestrator", Permissions: []agent.Permission{
		{Resource: "mcp:github:*", Actions: []string{"read", "write"}, Constraints: &agent.Constraints{
			IPAllowlist: []string{"10.0.0.0/8"},
			RateLimit:   &agent.RateLimit{Max: 10, Window: agent.Duration(time.Minute)},
		}},
		{Resource: "mcp:slack:*", Actions: []string{"post"}, Constraints: &agent.Constraints{
			TimeWindows: []agent.TimeWindow{{Days: []string{"mon", "tue"}, Start: "09:00", End: "17:00", Timezone: "UTC"}},
			Approval:    &agent.Approval{Required: true, TTL: agent.Duration(time.Hour), Approvers: []string{"alice"}},
		}},
	}}))
	child := newAgent(t, k, ctx, "", perms("mcp:jira:*", "read"))

	pc := must(k.Agents().Capabilities(ctx, parent.ID))
	if pc.AgentID != parent.ID || pc.Status != agent.StatusActive || len(pc.Capabilities) != 2 {
		t.Fatalf("parent capabilities: %+v", pc)
	}
	gh, sl := pc.Capabilities[0], pc.Capabilities[1]
	switch {
	case gh.Grant != parent.Permissions[0].ID, gh.Resource != "mcp:github:*", !slices.Equal(gh.Actions, []string{"read", "write"}),
		len(gh.Via) != 0, gh.ExpiresAt != nil, gh.Constraints == nil,
		len(gh.Constraints.IPAllowlist) != 1 || !slices.Equal(gh.Constraints.IPAllowlist[0], []string{"10.0.0.0/8"}),
		len(gh.Constraints.RateLimit) != 1 || gh.Constraints.RateLimit[0].Max != 10 || gh.Constraints.RateLimit[0].Window.D() != time.Minute,
		gh.Constraints.Approval != nil:
		t.Fatalf("own github grant: %+v %+v", gh, gh.Constraints)
	}
	switch c := sl.Constraints; {
	case sl.Resource != "mcp:slack:*", c == nil, len(c.TimeWindows) != 1 || len(c.TimeWindows[0]) != 1,
		!slices.Equal(c.TimeWindows[0][0].Days, []string{"mon", "tue"}), c.TimeWindows[0][0].Start != "09:00",
		c.TimeWindows[0][0].End != "17:00", c.TimeWindows[0][0].Timezone != "UTC",
		c.Approval == nil || !c.Approval.Required || c.Approval.TTL.D() != time.Hour || !slices.Equal(c.Approval.Approvers, []string{"alice"}):
		t.Fatalf("own slack grant: %+v %+v", sl, sl.Constraints)
	}

	d := must(k.Delegations().Delegate(ctx, api.DelegateRequest{FromAgentID: parent.ID, ToAgentID: child.ID,
		Permissions: []agent.Permission{{Resource: "mcp:github:repos", Actions: []string{"read"}, Constraints: &agent.Constraints{
			ArgumentPatterns: map[string]string{"branch": "dev-.*"},
			RateLimit:        &agent.RateLimit{Max: 2, Window: agent.Duration(time.Second)},
		}}}}))
	cc := must(k.Agents().Capabilities(ctx, child.ID))
	if len(cc.Capabilities) != 2 || cc.Capabilities[0].Resource != "mcp:jira:*" || len(cc.Capabilities[0].Via) != 0 {
		t.Fatalf("child capabilities: %+v", cc)
	}
	dg := cc.Capabilities[1]
	switch c := dg.Constraints; {
	case dg.Grant != d.Permissions[0].ID, dg.Resource != "mcp:github:repos", !slices.Equal(dg.Actions, []string{"read"}),
		!slices.Equal(dg.Via, []string{d.ID}), c == nil,
		len(c.IPAllowlist) != 1, // the parent's allowlist still holds
		len(c.RateLimit) != 2 || c.RateLimit[0].Max != 10 || c.RateLimit[1].Max != 2, // both levels are charged
		!slices.Equal(c.ArgumentPatterns["branch"], []string{"dev-.*"}):
		t.Fatalf("delegated grant: %+v %+v", dg, dg.Constraints)
	}

	// Revoking the delegation takes its grants away at once.
	must(k.Delegations().Revoke(ctx, d.ID))
	if cc := must(k.Agents().Capabilities(ctx, child.ID)); len(cc.Capabilities) != 1 || cc.Capabilities[0].Resource != "mcp:jira:*" {
		t.Fatalf("after revoking the delegation: %+v", cc)
	}

	// Isolation as Get: another owner's agent does not exist for bob; an admin sees it.
	bk, bctx := env.As(t, bob)
	_, err := bk.Agents().Capabilities(bctx, parent.ID)
	wantErr(t, "another owner's agent", err, api.CodeNotFound, "", "")
	_, err = bk.Agents().Capabilities(bctx, "agt_doesnotexist")
	wantErr(t, "an unknown agent", err, api.CodeNotFound, "", "")
	ak, actx := env.As(t, admin)
	if c := must(ak.Agents().Capabilities(actx, parent.ID)); len(c.Capabilities) != 2 {
		t.Fatalf("admin: %+v", c)
	}

	// A revoked agent may do nothing.
	must(k.Agents().Revoke(ctx, parent.ID))
	if c := must(k.Agents().Capabilities(ctx, parent.ID)); c.Status != agent.StatusRevoked || len(c.Capabilities) != 0 {
		t.Fatalf("revoked agent: %+v", c)
	}
}
