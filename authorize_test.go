package kavach_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/webhook"
)

func gated(approvers ...string) []agent.Permission {
	return []agent.Permission{{
		Resource: "mcp:github:*", Actions: []string{"push"},
		Constraints: &agent.Constraints{Approval: &agent.Approval{Required: true, TTL: agent.Duration(time.Hour), Approvers: approvers}},
	}}
}

func push(branch string) api.AuthorizeRequest {
	return api.AuthorizeRequest{Action: "push", Resource: "mcp:github:repos", Arguments: map[string]any{"branch": branch}}
}

func authorize(t *testing.T, f *fixture, ctx context.Context, id string, req api.AuthorizeRequest) *api.Decision {
	t.Helper()
	d, err := f.k.Authorize(ctx, id, req, api.CallContext{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestApprovalRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{Permissions: gated("carol")})

		first := authorize(t, f, alice, a.ID, push("dev"))
		if first.Code != api.ApprovalRequired || first.ApprovalID == "" || first.Allowed {
			t.Fatalf("first call: %+v", first)
		}
		again := authorize(t, f, alice, a.ID, push("dev"))
		if again.ApprovalID != first.ApprovalID {
			t.Fatalf("a repeated call must return the same pending request: %s vs %s", again.ApprovalID, first.ApprovalID)
		}
		pending, err := f.k.Approvals().List(alice, api.ListApprovalsRequest{})
		if err != nil || len(pending.Approvals) != 1 || pending.Approvals[0].Arguments["branch"] != "dev" {
			t.Fatalf("pending list: %+v %v", pending, err)
		}

		// Neither another user nor an app may approve; bob cannot even see it.
		if _, err := f.k.Approvals().Approve(bob, first.ApprovalID, api.ApproveRequest{}); !api.IsNotFound(err) {
			t.Fatalf("bob approving: want not found, got %v", err)
		}
		app := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleApp, TenantID: "default"})
		if _, err := f.k.Approvals().Approve(app, first.ApprovalID, api.ApproveRequest{}); !api.IsForbidden(err) {
			t.Fatalf("app approving: want forbidden, got %v", err)
		}
		if l, _ := f.k.Approvals().List(bob, api.ListApprovalsRequest{}); len(l.Approvals) != 0 {
			t.Fatal("bob must not see alice's approvals")
		}

		// A listed approver may approve.
		carol := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleUser, TenantID: "default", OwnerID: "carol"})
		if l, _ := f.k.Approvals().List(carol, api.ListApprovalsRequest{}); len(l.Approvals) != 1 {
			t.Fatal("a listed approver sees the request")
		}
		ap, err := f.k.Approvals().Approve(carol, first.ApprovalID, api.ApproveRequest{Reason: "ok"})
		if err != nil || ap.Status != agent.ApprovalApproved || ap.DecidedBy != "user:carol" {
			t.Fatalf("approve: %+v %v", ap, err)
		}
		if _, err := f.k.Approvals().Approve(alice, first.ApprovalID, api.ApproveRequest{}); !api.IsConflict(err) {
			t.Fatalf("approving twice: want conflict, got %v", err)
		}

		// {branch: main} is a different call: still gated.
		if d := authorize(t, f, alice, a.ID, push("main")); d.Code != api.ApprovalRequired || d.ApprovalID == first.ApprovalID {
			t.Fatalf("approving dev must not unlock main: %+v", d)
		}
		// The approved call is allowed once, then gated again.
		if d := authorize(t, f, alice, a.ID, push("dev")); !d.Allowed || d.ApprovalID != first.ApprovalID {
			t.Fatalf("approved call: %+v", d)
		}
		d := authorize(t, f, alice, a.ID, push("dev"))
		if d.Code != api.ApprovalRequired || d.ApprovalID == first.ApprovalID {
			t.Fatalf("after its one use the call needs a new approval: %+v", d)
		}

		// Deny: APPROVAL_DENIED until the request would have expired, then asked anew.
		if _, err := f.k.Approvals().Deny(alice, d.ApprovalID, api.DenyRequest{Reason: "no"}); err != nil {
			t.Fatal(err)
		}
		d2 := authorize(t, f, alice, a.ID, push("dev"))
		if d2.Code != api.ApprovalDenied || d2.ApprovalID != d.ApprovalID {
			t.Fatalf("denied call: %+v", d2)
		}
		// The agent is told what the person wrote and until when the denial holds.
		if !strings.HasSuffix(d2.Reason, ": no") || !strings.Contains(d2.Reason, "until ") {
			t.Fatalf("denied call's reason %q: want the denial's end and the typed reason", d2.Reason)
		}
		f.advance(16 * time.Minute)
		if d3 := authorize(t, f, alice, a.ID, push("dev")); d3.Code != api.ApprovalRequired || d3.ApprovalID == d.ApprovalID {
			t.Fatalf("after the denial lapses a new request opens: %+v", d3)
		}
	})
}

func TestApprovalUsesTTLAndExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{Permissions: gated()})
		d := authorize(t, f, alice, a.ID, push("x"))
		if _, err := f.k.Approvals().Approve(alice, d.ApprovalID, api.ApproveRequest{Uses: 2, TTL: agent.Duration(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if d := authorize(t, f, alice, a.ID, push("x")); !d.Allowed {
				t.Fatalf("use %d: %+v", i+1, d)
			}
		}
		if d := authorize(t, f, alice, a.ID, push("x")); d.Allowed {
			t.Fatal("a third use must not be allowed")
		}

		// An approval lapses after its TTL even with uses left.
		d = authorize(t, f, alice, a.ID, push("y"))
		if _, err := f.k.Approvals().Approve(alice, d.ApprovalID, api.ApproveRequest{Uses: 5, TTL: agent.Duration(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		f.advance(61 * time.Second)
		if d := authorize(t, f, alice, a.ID, push("y")); d.Allowed {
			t.Fatal("an approval past its TTL must not allow")
		}

		// A pending request past its expiry cannot be approved.
		d = authorize(t, f, alice, a.ID, push("z"))
		f.advance(16 * time.Minute)
		if _, err := f.k.Approvals().Approve(alice, d.ApprovalID, api.ApproveRequest{}); !api.IsConflict(err) {
			t.Fatalf("approving an expired request: want conflict, got %v", err)
		}
		if _, err := f.k.Approvals().Approve(alice, d.ApprovalID, api.ApproveRequest{Uses: -1}); !api.IsInvalidInput(err) {
			t.Fatalf("negative uses: want invalid input, got %v", err)
		}
	})
}

func TestDryRunHasNoSideEffects(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{
			{Resource: "mcp:github:*", Actions: []string{"read"}, Constraints: &agent.Constraints{RateLimit: &agent.RateLimit{Max: 1, Window: agent.Duration(time.Hour)}}},
		}})
		check := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:x", DryRun: true}
		for range 3 {
			if d := authorize(t, f, alice, a.ID, check); !d.Allowed {
				t.Fatalf("dry run: %+v", d)
			}
		}
		if d := authorize(t, f, alice, a.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:x"}); !d.Allowed {
			t.Fatal("dry runs must not use up the rate limit")
		}
		if d := authorize(t, f, alice, a.ID, check); d.Allowed || d.Code != api.RateLimited {
			t.Fatalf("a dry run reports the limit: %+v", d)
		}

		g := create(t, f, alice, api.CreateAgentRequest{Permissions: gated()})
		req := push("dev")
		req.DryRun = true
		if d := authorize(t, f, alice, g.ID, req); d.Code != api.ApprovalRequired || d.ApprovalID != "" {
			t.Fatalf("a dry run must not open an approval request: %+v", d)
		}
		if l, _ := f.k.Approvals().List(alice, api.ListApprovalsRequest{}); len(l.Approvals) != 0 {
			t.Fatal("a dry run opened an approval request")
		}
		events, err := auditEvents(t, f, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		checks := 0
		for _, e := range events {
			if e.Result == "check" {
				checks++
			}
		}
		if checks != 4 {
			t.Fatalf("dry runs are audited as checks: %d of 4", checks)
		}
	})
}

func TestRateLimitUnderConcurrency(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		const max = 10
		a := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{
			{Resource: "mcp:github:*", Actions: []string{"read"}, Constraints: &agent.Constraints{RateLimit: &agent.RateLimit{Max: max, Window: agent.Duration(time.Minute)}}},
		}})
		var allowed, limited atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				d, err := f.k.Authorize(alice, a.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:x"}, api.CallContext{})
				switch {
				case err != nil:
					t.Error(err)
				case d.Allowed:
					allowed.Add(1)
				case d.Code == api.RateLimited:
					limited.Add(1)
				default:
					t.Errorf("unexpected %s: %s", d.Code, d.Reason)
				}
			})
		}
		wg.Wait()
		if allowed.Load() != max || limited.Load() != 50-max {
			t.Fatalf("admitted %d (limited %d); want exactly %d", allowed.Load(), limited.Load(), max)
		}
		f.advance(time.Minute)
		if d := authorize(t, f, alice, a.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:x"}); !d.Allowed {
			t.Fatal("the window slides: a minute later calls are admitted again")
		}
	})
}

func TestPermissionChangeIsVisibleToTheNextDecision(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{})
		read := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:x"}
		write := api.AuthorizeRequest{Action: "write", Resource: "mcp:github:x"}
		if !authorize(t, f, alice, a.ID, read).Allowed || authorize(t, f, alice, a.ID, write).Allowed {
			t.Fatal("initial permissions")
		}
		loads := f.k.Engine().Stats().FullLoads
		perms := []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"write"}}}
		if _, err := f.k.Agents().Update(alice, a.ID, api.UpdateAgentRequest{Permissions: &perms}); err != nil {
			t.Fatal(err)
		}
		if authorize(t, f, alice, a.ID, read).Allowed || !authorize(t, f, alice, a.ID, write).Allowed {
			t.Fatal("the update is not visible to the next decision")
		}
		if _, err := f.k.Agents().Revoke(alice, a.ID); err != nil {
			t.Fatal(err)
		}
		if d := authorize(t, f, alice, a.ID, write); d.Code != api.AgentRevoked {
			t.Fatalf("revocation is not visible to the next decision: %s", d.Code)
		}
		if got := f.k.Engine().Stats().FullLoads; got != loads {
			t.Fatalf("a change caused %d full recompiles", got-loads)
		}
	})
}

func TestAuthorizeIsolationAndBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{})
		read := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:x"}
		if d := authorize(t, f, bob, a.ID, read); d.Code != api.AgentNotFound {
			t.Fatalf("bob authorizing alice's agent: %s", d.Code)
		}
		if d, _ := f.k.AuthorizeToken(bob, a.Token, read, api.CallContext{}); d.Code != api.TokenInvalid {
			t.Fatalf("bob using alice's token: %s", d.Code)
		}
		if d, _ := f.k.AuthorizeToken(alice, a.Token, read, api.CallContext{}); !d.Allowed {
			t.Fatalf("alice's own token: %s", d.Code)
		}
		bad := []struct {
			field string
			req   api.AuthorizeRequest
			cc    api.CallContext
		}{
			{"action", api.AuthorizeRequest{Resource: "a"}, api.CallContext{}},
			{"resource", api.AuthorizeRequest{Action: "read", Resource: "mcp:*"}, api.CallContext{}},
			{"resource", api.AuthorizeRequest{Action: "read", Resource: ""}, api.CallContext{}},
			{"context.ip", read, api.CallContext{IP: "not-an-ip"}},
			{"context.ip", read, api.CallContext{IP: "fe80::1%eth0"}},
			{"context.ip", read, api.CallContext{IP: "10.0.0.1\r\nX-Injected: 1"}},
			{"context.userAgent", read, api.CallContext{UserAgent: string(make([]byte, 600))}},
			{"arguments", api.AuthorizeRequest{Action: "read", Resource: "a", Arguments: map[string]any{"big": string(make([]byte, 70<<10))}}, api.CallContext{}},
		}
		for _, b := range bad {
			_, err := f.k.Authorize(alice, a.ID, b.req, b.cc)
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Field != b.field {
				t.Errorf("%s: want invalid input naming it, got %v", b.field, err)
			}
		}
		for _, id := range []string{string(make([]byte, 1<<20)), "agt_\xff"} {
			_, err := f.k.Authorize(alice, id, read, api.CallContext{})
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Field != "agentId" {
				t.Errorf("agent id of %d bytes: want invalid input naming agentId, got %v", len(id), err)
			}
		}
	})
}

// failingRecorder stands for an audit ledger that cannot be written.
type failingRecorder struct{}

func (failingRecorder) Record(context.Context, *store.AuditEvent) error {
	return errors.New("disk full")
}

func TestAuditFailureFailsClosed(t *testing.T) {
	f := &fixture{now: time.Now()}
	k, err := kavach.Open(context.Background(), kavach.Config{Database: "sqlite://" + t.TempDir() + "/k.db", Recorder: failingRecorder{}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	f.k = k
	a := create(t, f, alice, api.CreateAgentRequest{})
	d, err := k.Authorize(alice, a.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:x"}, api.CallContext{})
	if err != nil || d.Allowed || d.Code != api.EngineError {
		t.Fatalf("an unauditable decision must deny with ENGINE_ERROR: %+v %v", d, err)
	}
}

func TestEveryDecisionIsAudited(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{})
		read := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:x", Arguments: map[string]any{"n": 1.0}}
		d1 := authorize(t, f, alice, a.ID, read)
		d2 := authorize(t, f, alice, "agt_unknown", read)
		d3, _ := f.k.AuthorizeToken(alice, "kv_garbage", read, api.CallContext{IP: "10.0.0.1"})
		events, err := auditEvents(t, f, "")
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]*store.AuditEvent{}
		for _, e := range events {
			byID[e.ID] = e
		}
		for _, d := range []*api.Decision{d1, d2, d3} {
			e := byID[d.AuditID]
			if e == nil || e.Code != string(d.Code) {
				t.Fatalf("decision %s (%s) is not in the audit ledger", d.Code, d.AuditID)
			}
		}
		if e := byID[d1.AuditID]; e.Result != "allowed" || e.Grant != a.Permissions[0].ID || e.AgentID != a.ID || e.Arguments["n"] != 1.0 {
			t.Fatalf("allowed event: %+v", e)
		}
		if e := byID[d3.AuditID]; e.Result != "denied" || e.IP != "10.0.0.1" {
			t.Fatalf("invalid-token event: %+v", e)
		}
	})
}

// TestApprovalWebhookAnnouncesNewRequests: a new approval request is POSTed, signed, once;
// repeating the gated call does not announce it again.
func TestApprovalWebhookAnnouncesNewRequests(t *testing.T) {
	const secret = "a-webhook-secret-of-some-length"
	got := make(chan map[string]any, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header.Get("Kavach-Signature"), body, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
		var ev map[string]any
		json.Unmarshal(body, &ev)
		got <- ev
	}))
	defer srv.Close()
	f := &fixture{now: time.Now()}
	k, err := kavach.Open(context.Background(), kavach.Config{Database: "sqlite://" + t.TempDir() + "/k.db", Now: f.clock,
		ApprovalWebhook: webhook.Config{URL: srv.URL, Secret: secret}, Audit: kavach.AuditConfig{SigningKey: testAuditKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	f.k = k
	a := create(t, f, alice, api.CreateAgentRequest{Permissions: gated()})
	d := authorize(t, f, alice, a.ID, push("dev"))
	authorize(t, f, alice, a.ID, push("dev"))
	select {
	case ev := <-got:
		data, _ := ev["data"].(map[string]any)
		if ev["type"] != "approval.requested" || data["id"] != d.ApprovalID || data["agentId"] != a.ID {
			t.Fatalf("webhook event: %v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook for a new approval request")
	}
	k.Close() // delivers anything still queued
	select {
	case ev := <-got:
		t.Fatalf("a repeated call announced the request again: %v", ev)
	default:
	}
}
