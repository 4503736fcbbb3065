package kavach_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/replay"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// Revision A denies deletes of admin resources; candidate B adds one rule, denying deletes
// of anything under prod.
const (
	ruleA = `deny contains {"code": "POLICY_DENIED", "reason": "admin resources are read-only"} if {
	input.action == "delete"
	input.segs[2] == "admin"
}
`
	ruleB = `deny contains {"code": "POLICY_DENIED", "reason": "no deletes in prod"} if {
	input.action == "delete"
	input.segs[1] == "prod"
}
`
)

func customRevision(name string, rules ...string) *engine.PolicySet {
	src := "package kavach.custom\n\nimport rego.v1\n\n" + strings.Join(rules, "\n")
	return &engine.PolicySet{Revision: name, Modules: []engine.Module{{Name: "kavach/custom/rules.rego", Source: src}}}
}

// ledgerCall is one generated call and what the test knows of it independently of Kavach.
type ledgerCall struct {
	agentID, token    string
	action, resource  string
	args              map[string]any
	ip                string
	when              time.Time
	dryRun, masked    bool
	live              func(at time.Time) bool // the agent is active and unexpired at the call time
	matchesA, matches bool
}

// TestReplayAgainstTheLedger records 10,000 decisions through the API under revision A —
// denials of every code, delegated grants, approvals, masked arguments, dry runs and
// invalid tokens among them — and replays them: against A itself nothing changes; against
// A plus one deny rule exactly the calls that rule matches change, as counted by the test
// from the calls it made; a candidate that does not compile is refused.
func TestReplayAgainstTheLedger(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := "sqlite://" + filepath.Join(t.TempDir(), "kavach.db")
			if backend == "postgres" {
				db = pgtest.URL(t)
			}
			testReplay(t, db, 10_000)
		})
	}
}

func testReplay(t *testing.T, db string, n int) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "kavach", "custom"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kavach", "custom", "rules.rego"), []byte(customRevision("A", ruleA).Modules[0].Source), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday
	f := &fixture{now: start}
	cfg := kavach.Config{Database: db, Now: f.clock, Policy: kavach.PolicyConfig{Dir: dir},
		Audit: kavach.AuditConfig{Mask: []string{"secret"}, SigningKey: testAuditKey, InvalidTokenInterval: -1}}
	k, err := kavach.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	root := kavach.WithActor(ctx, api.Root)
	calls := generateLedger(t, root, k, f, n)

	// Every decision code is in the ledger.
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	k, err = kavach.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	recorded := map[string]int{}
	if err := k.Store().StreamAudit(ctx, store.AuditQuery{TenantID: agent.DefaultTenant}, func(e *store.AuditEvent) error {
		if e.Kind == "decision" {
			recorded[e.Code]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, code := range []api.DecisionCode{api.Allowed, api.AgentNotFound, api.AgentRevoked, api.AgentExpired, api.TokenInvalid,
		api.NoPermission, api.RateLimited, api.OutsideTimeWindow, api.IPNotAllowed, api.ArgumentNotAllowed,
		api.ApprovalRequired, api.ApprovalDenied, api.PolicyDenied} {
		if recorded[string(code)] == 0 {
			t.Errorf("the generated ledger holds no %s decision: %v", code, recorded)
		}
	}

	// The independent count.
	var replayable, masked, dry, invalid, changed int64
	for _, c := range calls {
		switch {
		case c.dryRun:
			dry++
		case c.agentID == "":
			invalid++
		case c.masked:
			masked++
		default:
			replayable++
			if c.matches && !c.matchesA && c.live != nil && c.live(c.when) {
				changed++
			}
		}
	}
	if changed == 0 {
		t.Fatal("the generated calls give the candidate nothing to change")
	}

	same, err := k.ReplayPolicy(root, api.ReplayRequest{}, customRevision("A", ruleA))
	if err != nil {
		t.Fatal(err)
	}
	if same.Changed != 0 || same.Replayed != replayable || same.Read != int64(n) {
		t.Fatalf("A against A: %d changed, %d of %d replayed; want 0 changed, %d replayed", same.Changed, same.Replayed, same.Read, replayable)
	}
	wantSkipped := map[string]int64{replay.ReasonDryRun: dry, replay.ReasonNoAgent: invalid, `masked in the ledger: argument "secret"`: masked}
	for _, u := range same.Unreplayable {
		if wantSkipped[u.Reason] != u.Count || u.ExampleAuditID == "" {
			t.Errorf("not replayed: %+v, want %d", u, wantSkipped[u.Reason])
		}
		delete(wantSkipped, u.Reason)
	}
	if len(wantSkipped) > 0 {
		t.Errorf("reasons missing from the report: %v", wantSkipped)
	}

	rep, err := k.ReplayPolicy(root, api.ReplayRequest{Top: 50}, customRevision("B", ruleA, ruleB))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Changed != changed || rep.Replayed != replayable || rep.ActiveRevision == "" || rep.CandidateRevision != "B" {
		t.Fatalf("A against B: %d changed of %d replayed; want %d of %d (%+v)", rep.Changed, rep.Replayed, changed, replayable, rep.Matrix)
	}
	var fromMatrix, groupSum int64
	for _, m := range rep.Matrix {
		if m.From != m.To {
			fromMatrix += m.Count
			if m.To != api.PolicyDenied {
				t.Errorf("a change to %s: only denials were added", m.To)
			}
		}
	}
	for _, g := range rep.Groups {
		groupSum += g.Count
		if g.Action != "delete" || !strings.HasPrefix(g.Resource, "db:prod:") || g.To != api.PolicyDenied || g.ExampleAuditID == "" ||
			g.ExampleReason != "no deletes in prod" || len(g.ActiveRules) != 0 ||
			len(g.CandidateRules) != 1 || g.CandidateRules[0] != `kavach/custom/rules.rego:10: deny contains {"code": "POLICY_DENIED", "reason": "no deletes in prod"}` {
			t.Errorf("group %+v", g)
		}
	}
	if fromMatrix != changed || groupSum != changed {
		t.Fatalf("the matrix counts %d changes and the groups %d, want %d", fromMatrix, groupSum, changed)
	}
	// A seq range of one tenant reads only that range.
	part, err := k.ReplayPolicy(root, api.ReplayRequest{TenantID: agent.DefaultTenant, FromSeq: 1, ToSeq: 100}, customRevision("B", ruleA, ruleB))
	if err != nil || part.Read > 100 || part.Read == 0 {
		t.Fatalf("seq 1-100: read %d, %v", part.Read, err)
	}

	if _, err := k.ReplayPolicy(root, api.ReplayRequest{}, customRevision("broken", "deny contains x if { x := }")); !api.IsInvalidInput(err) ||
		!strings.Contains(err.Error(), "broken") {
		t.Fatalf("a candidate that does not compile: %v", err)
	}
	// A candidate's rules read every tenant's agents: only root runs one on the server.
	for _, a := range []api.Actor{{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "alice"}, {Role: api.RoleAdmin, TenantID: agent.DefaultTenant}} {
		if _, err := k.ReplayPolicy(kavach.WithActor(ctx, a), api.ReplayRequest{}, customRevision("B", ruleA, ruleB)); api.CodeOf(err) != api.CodeForbidden {
			t.Fatalf("a %s replays: %v", a.Role, err)
		}
	}
	if _, err := k.ReplayPolicy(root, api.ReplayRequest{FromSeq: 5}, customRevision("B", ruleA, ruleB)); !api.IsInvalidInput(err) {
		t.Fatalf("a seq range without a tenant: %v", err)
	}
}

// generateLedger creates agents and makes n calls through the API, one second of the
// fixture's clock apart, and returns them with what the test knows of each.
func generateLedger(t *testing.T, ctx context.Context, k *kavach.Kavach, f *fixture, n int) []ledgerCall {
	t.Helper()
	mk := func(name string, expires *time.Time, perms ...agent.Permission) *api.AgentWithToken {
		a, err := k.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "alice", Name: name, ExpiresAt: expires, Permissions: perms})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	perm := func(resource string, actions []string, c *agent.Constraints) agent.Permission {
		return agent.Permission{Resource: resource, Actions: actions, Constraints: c}
	}
	worker := mk("worker", nil,
		perm("mcp:github:*", []string{"read", "delete"}, nil),
		perm("db:prod:*", []string{"read", "delete"}, &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}),
		perm("db:staging:*", []string{"*"}, &agent.Constraints{TimeWindows: []agent.TimeWindow{{Start: "09:00", End: "10:30", Timezone: "UTC"}}}),
		perm("tool:deploy:*", []string{"run"}, &agent.Constraints{ArgumentPatterns: map[string]string{"env": "staging|dev"}}),
		perm("tool:pay:*", []string{"send"}, &agent.Constraints{Approval: &agent.Approval{Required: true}}),
		perm("api:search:*", []string{"query"}, &agent.Constraints{RateLimit: &agent.RateLimit{Max: 5, Window: agent.Duration(time.Minute)}}),
	)
	sub := mk("sub", nil)
	if _, err := k.Delegations().Delegate(ctx, api.DelegateRequest{FromAgentID: worker.ID, ToAgentID: sub.ID,
		Permissions: []agent.Permission{perm("mcp:github:*", []string{"read", "delete"}, nil), perm("db:prod:*", []string{"delete"}, nil)}}); err != nil {
		t.Fatal(err)
	}
	gone := mk("gone", nil, perm("*", []string{"*"}, nil))
	if _, err := k.Agents().Revoke(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	expiry := f.clock().Add(time.Duration(n/4) * time.Second)
	brief := mk("brief", &expiry, perm("db:*", []string{"*"}, nil))

	always := func(time.Time) bool { return true }
	type who struct {
		id, token string
		live      func(time.Time) bool
	}
	subjects := []who{
		{worker.ID, "", always}, {worker.ID, "", always}, {sub.ID, "", always}, {brief.ID, "", func(at time.Time) bool { return at.Before(expiry) }},
		{gone.ID, "", nil}, {"agt_0000000000000000000000000", "", nil}, {"", "kv_not-a-token", nil}, {"", worker.Token, always},
	}
	actions := []string{"read", "delete", "run", "send", "query", "write"}
	resources := []string{"mcp:github:repos", "mcp:github:admin", "db:prod:orders", "db:prod:admin", "db:staging:users", "tool:deploy:web", "tool:pay:vendor", "api:search:web"}
	ips := []string{"10.1.2.3", "192.0.2.7", ""}
	rng := rand.New(rand.NewPCG(1, 2))
	var calls []ledgerCall
	denied := false
	for i := range n {
		f.advance(time.Second)
		s := subjects[rng.IntN(len(subjects))]
		c := ledgerCall{agentID: s.id, token: s.token, live: s.live, action: actions[rng.IntN(len(actions))],
			resource: resources[rng.IntN(len(resources))], ip: ips[rng.IntN(len(ips))], when: f.clock()}
		// Some calls are scripted, so that every code shows up: a burst past a rate limit,
		// a gated call (denied by a person the first time) and its repeat, a bad argument.
		switch i % 500 {
		case 1, 2, 3, 4, 5, 6:
			c.agentID, c.token, c.live, c.action, c.resource = worker.ID, "", always, "query", "api:search:web"
		case 10, 11:
			c.agentID, c.token, c.live, c.action, c.resource = worker.ID, "", always, "send", "tool:pay:vendor"
		case 20:
			c.agentID, c.token, c.live, c.action, c.resource = worker.ID, "", always, "run", "tool:deploy:web"
		}
		switch rng.IntN(10) {
		case 0:
			c.args = map[string]any{"env": "prod"}
		case 1:
			c.args = map[string]any{"env": "staging", "secret": "hunter2"}
			c.masked = true
		case 2:
			c.args = map[string]any{"env": "dev", "n": 3}
		}
		if i%500 == 10 || i%500 == 11 {
			c.args, c.masked = nil, false // identical calls share one approval request
		}
		if i%500 == 20 {
			c.args, c.masked = map[string]any{"env": "prod"}, false
		}
		c.dryRun = i%97 == 0
		segs := strings.Split(c.resource, ":")
		c.matchesA = c.action == "delete" && segs[2] == "admin"
		c.matches = c.action == "delete" && segs[1] == "prod"
		req := api.AuthorizeRequest{Action: c.action, Resource: c.resource, Arguments: c.args, DryRun: c.dryRun}
		cc := api.CallContext{IP: c.ip}
		var d *api.Decision
		var err error
		if c.token != "" {
			d, err = k.AuthorizeToken(ctx, c.token, req, cc)
			if d != nil && d.Code == api.TokenInvalid {
				c.agentID = ""
			} else {
				c.agentID = worker.ID
			}
		} else {
			d, err = k.Authorize(ctx, c.agentID, req, cc)
		}
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if d.Code == api.ApprovalRequired && d.ApprovalID != "" && !denied && !c.dryRun {
			// The first request is denied: identical calls are then APPROVAL_DENIED.
			if _, err := k.Approvals().Deny(ctx, d.ApprovalID, api.DenyRequest{Reason: "no"}); err != nil {
				t.Fatal(err)
			}
			denied = true
		}
		calls = append(calls, c)
	}
	return calls
}
