package apitest

import (
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

func testAuthorize(t *testing.T, env Env) {
	uk, uctx := env.As(t, alice)
	a := newAgent(t, uk, uctx, "", perms("mcp:github:*", "read"))
	pk, pctx := env.As(t, app)
	read := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos", Arguments: map[string]any{"repo": "kavach"}}
	d := wantDecision(t, "allowed", must(pk.Authorize(pctx, a.ID, read, api.CallContext{IP: "203.0.113.7", UserAgent: "test"})), nil, api.Allowed)
	if d.Grant != a.Permissions[0].ID {
		t.Errorf("grant %q, want %q", d.Grant, a.Permissions[0].ID)
	}
	write := api.AuthorizeRequest{Action: "write", Resource: "mcp:github:repos"}
	wantDecision(t, "no permission", must(pk.Authorize(pctx, a.ID, write, api.CallContext{})), nil, api.NoPermission)
	wantDecision(t, "unknown agent", must(pk.Authorize(pctx, "agt_missing", read, api.CallContext{})), nil, api.AgentNotFound)
	wantDecision(t, "dry run", must(pk.Authorize(pctx, a.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:x", DryRun: true}, api.CallContext{})), nil, api.Allowed)

	// An agent holding only its token: the token decides which agent is judged.
	rk, rctx := env.As(t, root)
	wantDecision(t, "by token", must(rk.AuthorizeToken(rctx, a.Token, read, api.CallContext{})), nil, api.Allowed)
	wantDecision(t, "by token, no permission", must(rk.AuthorizeToken(rctx, a.Token, write, api.CallContext{})), nil, api.NoPermission)
	wantDecision(t, "garbage token", must(rk.AuthorizeToken(rctx, "kv_garbage", read, api.CallContext{})), nil, api.TokenInvalid)
	wantDecision(t, "unknown token", must(rk.AuthorizeToken(rctx, agent.MintToken(), read, api.CallContext{})), nil, api.TokenInvalid)
	must(uk.Agents().Revoke(uctx, a.ID))
	wantDecision(t, "revoked agent", must(pk.Authorize(pctx, a.ID, read, api.CallContext{})), nil, api.AgentRevoked)

	bad := []struct {
		what  string
		req   api.AuthorizeRequest
		cc    api.CallContext
		field string
	}{
		{"empty action", api.AuthorizeRequest{Resource: "a"}, api.CallContext{}, "action"},
		{"wildcard resource", api.AuthorizeRequest{Action: "read", Resource: "mcp:*"}, api.CallContext{}, "resource"},
		{"not an IP", read, api.CallContext{IP: "localhost"}, "context.ip"},
	}
	for _, tc := range bad {
		_, err := pk.Authorize(pctx, a.ID, tc.req, tc.cc)
		wantErr(t, tc.what, err, api.CodeInvalidInput, tc.field, "")
	}
}

func testAuthorizeConstraints(t *testing.T, env Env) {
	k, ctx := env.As(t, admin)
	a := must(k.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "alice", Name: "limited", Permissions: []agent.Permission{
		{Resource: "api:search", Actions: []string{"call"}, Constraints: &agent.Constraints{
			RateLimit: &agent.RateLimit{Max: 1, Window: agent.Duration(time.Hour)}}},
		{Resource: "db:prod", Actions: []string{"query"}, Constraints: &agent.Constraints{
			IPAllowlist: []string{"203.0.113.0/24"}}},
		{Resource: "git:push", Actions: []string{"push"}, Constraints: &agent.Constraints{
			ArgumentPatterns: map[string]string{"branch": "dev-.*"}}},
	}}))
	call := func(resource, action string, args map[string]any, ip string) *api.Decision {
		return must(k.Authorize(ctx, a.ID, api.AuthorizeRequest{Action: action, Resource: resource, Arguments: args}, api.CallContext{IP: ip}))
	}
	wantDecision(t, "first call", call("api:search", "call", nil, ""), nil, api.Allowed)
	limited := wantDecision(t, "second call", call("api:search", "call", nil, ""), nil, api.RateLimited)
	if limited.RetryAfter.D() <= 0 || limited.RetryAfter.D() > time.Hour {
		t.Errorf("retryAfter %s", limited.RetryAfter)
	}
	wantDecision(t, "allowed IP", call("db:prod", "query", nil, "203.0.113.9"), nil, api.Allowed)
	wantDecision(t, "other IP", call("db:prod", "query", nil, "198.51.100.1"), nil, api.IPNotAllowed)
	wantDecision(t, "no IP", call("db:prod", "query", nil, ""), nil, api.IPNotAllowed)
	wantDecision(t, "matching argument", call("git:push", "push", map[string]any{"branch": "dev-1"}, ""), nil, api.Allowed)
	wantDecision(t, "other argument", call("git:push", "push", map[string]any{"branch": "main"}, ""), nil, api.ArgumentNotAllowed)
}

func testApprovals(t *testing.T, env Env) {
	uk, uctx := env.As(t, alice)
	a := must(uk.Agents().Create(uctx, api.CreateAgentRequest{Name: "deployer", Permissions: []agent.Permission{
		{Resource: "mcp:github:repos", Actions: []string{"merge"}, Constraints: &agent.Constraints{
			Approval: &agent.Approval{Required: true, TTL: agent.Duration(time.Hour), Approvers: []string{"carol"}}}},
	}}))
	merge := func(branch string) api.AuthorizeRequest {
		return api.AuthorizeRequest{Action: "merge", Resource: "mcp:github:repos", Arguments: map[string]any{"branch": branch}}
	}
	first := wantDecision(t, "gated call", must(uk.Authorize(uctx, a.ID, merge("dev"), api.CallContext{})), nil, api.ApprovalRequired)
	again := wantDecision(t, "repeated call", must(uk.Authorize(uctx, a.ID, merge("dev"), api.CallContext{})), nil, api.ApprovalRequired)
	if first.ApprovalID == "" || again.ApprovalID != first.ApprovalID {
		t.Fatalf("approval ids %q and %q: want one pending request", first.ApprovalID, again.ApprovalID)
	}
	pending := must(uk.Approvals().List(uctx, api.ListApprovalsRequest{}))
	if len(pending.Approvals) != 1 || pending.Approvals[0].ID != first.ApprovalID || pending.Approvals[0].Arguments["branch"] != "dev" {
		t.Fatalf("pending: %+v", pending.Approvals)
	}
	ck, cctx := env.As(t, carol)
	if got := must(ck.Approvals().Get(cctx, first.ApprovalID)); got.Status != agent.ApprovalPending || got.AgentID != a.ID {
		t.Fatalf("the listed approver sees %+v", got)
	}
	bk, bctx := env.As(t, bob)
	_, err := bk.Approvals().Get(bctx, first.ApprovalID)
	wantErr(t, "bob reads alice's approval", err, api.CodeNotFound, "", "")
	_, err = bk.Approvals().Approve(bctx, first.ApprovalID, api.ApproveRequest{})
	wantErr(t, "bob approves alice's approval", err, api.CodeNotFound, "", "")
	if l := must(bk.Approvals().List(bctx, api.ListApprovalsRequest{})); len(l.Approvals) != 0 {
		t.Fatalf("bob lists %d approvals", len(l.Approvals))
	}
	pk, pctx := env.As(t, app)
	_, err = pk.Approvals().Approve(pctx, first.ApprovalID, api.ApproveRequest{})
	wantErr(t, "an app approves", err, api.CodeForbidden, "", "")
	_, err = ck.Approvals().Approve(cctx, first.ApprovalID, api.ApproveRequest{Uses: 5000})
	wantErr(t, "too many uses", err, api.CodeInvalidInput, "uses", "")

	approved := must(ck.Approvals().Approve(cctx, first.ApprovalID, api.ApproveRequest{Uses: 2, TTL: agent.Duration(time.Hour), Reason: "ok"}))
	if approved.Status != agent.ApprovalApproved || approved.UsesLeft != 2 || approved.DecidedBy == "" {
		t.Fatalf("approved: %+v", approved)
	}
	wantDecision(t, "approved call 1", must(uk.Authorize(uctx, a.ID, merge("dev"), api.CallContext{})), nil, api.Allowed)
	wantDecision(t, "approved call 2", must(uk.Authorize(uctx, a.ID, merge("dev"), api.CallContext{})), nil, api.Allowed)
	next := wantDecision(t, "uses spent", must(uk.Authorize(uctx, a.ID, merge("dev"), api.CallContext{})), nil, api.ApprovalRequired)
	if next.ApprovalID == first.ApprovalID {
		t.Fatal("a spent approval must open a new request")
	}
	if got := must(uk.Approvals().List(uctx, api.ListApprovalsRequest{Status: agent.ApprovalUsed})); len(got.Approvals) != 1 {
		t.Fatalf("used approvals: %+v", got.Approvals)
	}

	// Approving "dev" did not unlock "main"; denying "main" denies it.
	other := wantDecision(t, "other arguments", must(uk.Authorize(uctx, a.ID, merge("main"), api.CallContext{})), nil, api.ApprovalRequired)
	denied := must(uk.Approvals().Deny(uctx, other.ApprovalID, api.DenyRequest{Reason: "not on main"}))
	if denied.Status != agent.ApprovalDenied {
		t.Fatalf("denied: %+v", denied)
	}
	wantDecision(t, "denied call", must(uk.Authorize(uctx, a.ID, merge("main"), api.CallContext{})), nil, api.ApprovalDenied)
	_, err = uk.Approvals().Approve(uctx, other.ApprovalID, api.ApproveRequest{})
	wantErr(t, "approve a denied request", err, api.CodeConflict, "", "")
	_, err = uk.Approvals().List(uctx, api.ListApprovalsRequest{Status: "lost"})
	wantErr(t, "bad status", err, api.CodeInvalidInput, "status", "")
}

func testDelegations(t *testing.T, env Env) {
	uk, uctx := env.As(t, alice)
	parent := newAgent(t, uk, uctx, "", perms("mcp:github:*", "read", "write"))
	child := newAgent(t, uk, uctx, "", nil)
	read := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}
	wantDecision(t, "before delegation", must(uk.Authorize(uctx, child.ID, read, api.CallContext{})), nil, api.NoPermission)

	d := must(uk.Delegations().Delegate(uctx, api.DelegateRequest{FromAgentID: parent.ID, ToAgentID: child.ID, Permissions: perms("mcp:github:repos", "read")}))
	if d.Depth != 1 || d.MaxDepth != agent.DefaultMaxDepth || d.Status != agent.DelegationActive || d.FromAgentID != parent.ID {
		t.Fatalf("delegation: %+v", d)
	}
	via := wantDecision(t, "through the delegation", must(uk.Authorize(uctx, child.ID, read, api.CallContext{})), nil, api.Allowed)
	if len(via.Via) == 0 {
		t.Errorf("a delegated decision names its chain: %+v", via)
	}
	if got := must(uk.Delegations().Get(uctx, d.ID)); got.ID != d.ID || got.ToAgentID != child.ID {
		t.Fatalf("get: %+v", got)
	}
	for _, dir := range []string{"", "to"} {
		l := must(uk.Delegations().List(uctx, api.ListDelegationsRequest{AgentID: child.ID, Direction: dir}))
		if len(l.Delegations) != 1 || l.Delegations[0].ID != d.ID {
			t.Fatalf("list %q: %+v", dir, l.Delegations)
		}
	}
	if l := must(uk.Delegations().List(uctx, api.ListDelegationsRequest{AgentID: child.ID, Direction: "from"})); len(l.Delegations) != 0 {
		t.Fatalf("the child gave nothing: %+v", l.Delegations)
	}
	bk, bctx := env.As(t, bob)
	_, err := bk.Delegations().Get(bctx, d.ID)
	wantErr(t, "bob reads alice's delegation", err, api.CodeNotFound, "", "")
	_, err = bk.Delegations().Revoke(bctx, d.ID)
	wantErr(t, "bob revokes alice's delegation", err, api.CodeNotFound, "", "")

	refused := []struct {
		what          string
		req           api.DelegateRequest
		code          api.ErrorCode
		field, reason string
	}{
		{"not covered", api.DelegateRequest{FromAgentID: parent.ID, ToAgentID: child.ID, Permissions: perms("mcp:slack:*", "read")},
			api.CodeInvalidInput, "permissions[0]", api.ReasonNotCovered},
		{"to itself", api.DelegateRequest{FromAgentID: parent.ID, ToAgentID: parent.ID, Permissions: perms("mcp:github:repos", "read")},
			api.CodeInvalidInput, "toAgentId", api.ReasonSelfDelegation},
		{"a cycle", api.DelegateRequest{FromAgentID: child.ID, ToAgentID: parent.ID, Permissions: perms("mcp:github:repos", "read")},
			api.CodeConflict, "toAgentId", api.ReasonCycle},
	}
	for _, tc := range refused {
		_, err := uk.Delegations().Delegate(uctx, tc.req)
		wantErr(t, tc.what, err, tc.code, tc.field, tc.reason)
	}
	_, err = uk.Delegations().List(uctx, api.ListDelegationsRequest{AgentID: child.ID, Direction: "sideways"})
	wantErr(t, "bad direction", err, api.CodeInvalidInput, "direction", "")

	revoked := must(uk.Delegations().Revoke(uctx, d.ID))
	if revoked.Status != agent.DelegationRevoked || revoked.RevokedAt == nil {
		t.Fatalf("revoked: %+v", revoked)
	}
	wantDecision(t, "after revocation", must(uk.Authorize(uctx, child.ID, read, api.CallContext{})), nil, api.NoPermission)
}
