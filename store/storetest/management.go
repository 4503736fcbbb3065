package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// newManagementEvent returns the event of a management action on object, not yet stored.
func newManagementEvent(tenant, action, object string) *store.AuditEvent {
	return &store.AuditEvent{
		ID: agent.NewID("evt_"), Time: now(), TenantID: tenant, Kind: "management", Actor: "admin:" + tenant,
		Action: action, Resource: object, Arguments: map[string]any{"object": object}, Result: "ok",
	}
}

// managedWrite is one write that makes a management change, made with ctx (which carries
// the change's event), and a check that the change is in the store (or not).
type managedWrite struct {
	name   string
	write  func(ctx context.Context) error
	stored func(t *testing.T) bool
}

// managedWrites returns every write that takes attached events, each to run once on s, in
// an order that lets each follow the ones before it: the first creates tenantID, the
// others change objects of that tenant.
func managedWrites(s store.Store, tenantID string) []managedWrite {
	tenant := &agent.Tenant{ID: tenantID, Name: "Tenant " + tenantID, CreatedAt: now()}
	from, to := NewAgent(tenantID, "user_1"), NewAgent(tenantID, "user_1")
	d := NewDelegation(from, to)
	r := NewApproval(from, "mcp:github:repos", map[string]any{"branch": "main"}, now())
	key, keyHash := newAPIKey(tenantID, "", "admin")
	revokedKey, revokedHash := newAPIKey(tenantID, "", "app")
	batch := newBatch(tenantID, tenantID)
	token := newToken(store.OAuthAccessToken, d.ID, time.Minute)
	token.TenantID = tenantID
	agentIs := func(id string, want func(*agent.Agent) bool) func(*testing.T) bool {
		return func(t *testing.T) bool {
			a, err := s.GetAgent(ctx, id)
			if store.IsNotFound(err) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			return want(a)
		}
	}
	exists := func(a *agent.Agent) bool { return true }
	return []managedWrite{
		{"CreateTenant", func(ctx context.Context) error { return s.CreateTenant(ctx, tenant) },
			func(t *testing.T) bool { _, err := s.GetTenant(ctx, tenant.ID); return err == nil }},
		{"CreateAgent", func(ctx context.Context) error {
			if err := s.CreateAgent(context.Background(), to, agent.HashToken(agent.MintToken())); err != nil {
				return err
			}
			return s.CreateAgent(ctx, from, agent.HashToken(agent.MintToken()))
		}, agentIs(from.ID, exists)},
		{"UpdateAgent", func(ctx context.Context) error {
			_, err := s.UpdateAgent(ctx, from.ID, func(a *agent.Agent) error { a.Name = "renamed"; return nil })
			return err
		}, agentIs(from.ID, func(a *agent.Agent) bool { return a.Name == "renamed" })},
		{"RotateToken", func(ctx context.Context) error {
			_, err := s.RotateToken(ctx, from.ID, agent.HashToken(agent.MintToken()), "kv_rotated", time.Time{}, now())
			return err
		}, agentIs(from.ID, func(a *agent.Agent) bool { return a.TokenPrefix == "kv_rotated" })},
		{"CreateDelegation", func(ctx context.Context) error { return s.CreateDelegation(ctx, d) },
			func(t *testing.T) bool { _, err := s.GetDelegation(ctx, d.ID); return err == nil }},
		{"UpdateDelegation", func(ctx context.Context) error {
			_, err := s.UpdateDelegation(ctx, d.ID, func(d *agent.Delegation) error { d.Status = agent.DelegationRevoked; return nil })
			return err
		}, func(t *testing.T) bool {
			got, err := s.GetDelegation(ctx, d.ID)
			return err == nil && got.Status == agent.DelegationRevoked
		}},
		{"UpdateApproval", func(ctx context.Context) error {
			if _, _, err := s.OpenApproval(context.Background(), r, now()); err != nil {
				return err
			}
			_, err := s.UpdateApproval(ctx, r.ID, func(r *agent.ApprovalRequest) error { r.Status = agent.ApprovalDenied; return nil })
			return err
		}, func(t *testing.T) bool {
			got, err := s.GetApproval(ctx, r.ID)
			return err == nil && got.Status == agent.ApprovalDenied
		}},
		{"CreateAPIKey", func(ctx context.Context) error { return s.CreateAPIKey(ctx, key, keyHash) },
			func(t *testing.T) bool { _, err := s.GetAPIKey(ctx, key.ID); return err == nil }},
		{"RevokeAPIKey", func(ctx context.Context) error {
			if err := s.CreateAPIKey(context.Background(), revokedKey, revokedHash); err != nil {
				return err
			}
			_, err := s.RevokeAPIKey(ctx, revokedKey.ID, now())
			return err
		}, func(t *testing.T) bool {
			got, err := s.GetAPIKey(ctx, revokedKey.ID)
			return err == nil && got.Revoked()
		}},
		{"CreateOAuthToken", func(ctx context.Context) error { return s.CreateOAuthToken(ctx, token, "") },
			func(t *testing.T) bool { _, err := s.GetOAuthToken(ctx, token.ID); return err == nil }},
		{"CreateAgents", func(ctx context.Context) error {
			b, ok := s.(store.BulkAgentCreator)
			if !ok {
				return s.CreateAgent(ctx, batch[0].Agent, batch[0].TokenHash)
			}
			return b.CreateAgents(ctx, batch)
		}, agentIs(batch[0].Agent.ID, exists)},
	}
}

// A write handed events commits them with its change, in the chain of their tenant.
func testManagedWritesCommitTheirEvents(t *testing.T, s store.Store) {
	var events []*store.AuditEvent
	for _, w := range managedWrites(s, "acme") {
		e := newManagementEvent("acme", w.name, w.name)
		if err := w.write(store.WithAudit(ctx, e)); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if !w.stored(t) {
			t.Fatalf("%s: the change is not in the store", w.name)
		}
		events = append(events, e)
		if e.Seq != int64(len(events)) {
			t.Fatalf("%s: its event got seq %d, want %d", w.name, e.Seq, len(events))
		}
	}
	checkChain(t, s, "acme", len(events))
	got := collect(t, s, store.AuditQuery{TenantID: "acme"})
	for i, e := range events {
		if got[i].ID != e.ID || got[i].Action != e.Action || got[i].Arguments["object"] != e.Resource {
			t.Fatalf("event %d: got %+v, want %+v", i, got[i], e)
		}
	}
	// Two events of one write, and an update function completing its event from the stored
	// object: both tenants' chains take theirs.
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	partial := newManagementEvent("", "agent.revoke", a.ID)
	other := newManagementEvent("acme", "agent.revoke.notice", a.ID)
	_, err := s.UpdateAgent(store.WithAudit(ctx, partial, other), a.ID, func(a *agent.Agent) error {
		a.Status, partial.TenantID = agent.StatusRevoked, a.TenantID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkChain(t, s, agent.DefaultTenant, 1)
	checkChain(t, s, "acme", len(events)+1)
	// Writes made without events leave the ledger alone.
	mustCreate(t, s, NewAgent(agent.DefaultTenant, "user_1"))
	checkChain(t, s, agent.DefaultTenant, 1)
}

// A write whose change fails commits no event; a write whose event cannot be appended
// makes no change.
func testManagedWriteFailuresCommitNothing(t *testing.T, s store.Store) {
	if err := s.CreateTenant(ctx, &agent.Tenant{ID: "acme", Name: "Acme", CreatedAt: now()}); err != nil {
		t.Fatal(err)
	}
	taken := newManagementEvent("acme", "earlier", "x")
	if err := s.AppendAudit(ctx, taken); err != nil {
		t.Fatal(err)
	}

	// The change fails: a duplicate agent, an update function's error, a missing object.
	a := NewAgent("acme", "user_1")
	mustCreate(t, s, a)
	failures := map[string]func(ctx context.Context) error{
		"duplicate agent": func(ctx context.Context) error { return s.CreateAgent(ctx, a, agent.HashToken(agent.MintToken())) },
		"update refused": func(ctx context.Context) error {
			_, err := s.UpdateAgent(ctx, a.ID, func(*agent.Agent) error { return errors.New("refused") })
			return err
		},
		"missing agent": func(ctx context.Context) error {
			_, err := s.UpdateAgent(ctx, "agt_missing", func(*agent.Agent) error { return nil })
			return err
		},
		"missing key": func(ctx context.Context) error {
			_, err := s.RevokeAPIKey(ctx, "key_missing", now())
			return err
		},
	}
	for name, write := range failures {
		if err := write(store.WithAudit(ctx, newManagementEvent("acme", name, name))); err == nil {
			t.Fatalf("%s: want an error", name)
		}
		checkChain(t, s, "acme", 1)
	}

	// The event cannot be appended (its id is taken, or it names no tenant): no change.
	// Each write runs on a tenant of its own where the writes before it went through.
	for _, bad := range []struct {
		name  string
		event func() *store.AuditEvent
		want  error
	}{
		{"taken id", func() *store.AuditEvent {
			e := newManagementEvent("acme", "again", "y")
			e.ID = taken.ID
			return e
		}, store.ErrConflict},
		{"no tenant", func() *store.AuditEvent { return newManagementEvent("", "nowhere", "z") }, nil},
	} {
		for i := range managedWrites(s, "") {
			ws := managedWrites(s, fmt.Sprintf("t%d-%s", i, strings.ReplaceAll(bad.name, " ", "-")))
			for _, w := range ws[:i] {
				if err := w.write(ctx); err != nil {
					t.Fatalf("%s: %v", w.name, err)
				}
			}
			w := ws[i]
			err := w.write(store.WithAudit(ctx, bad.event()))
			if err == nil || bad.want != nil && !errors.Is(err, bad.want) {
				t.Fatalf("%s, %s: want an error (%v), got %v", bad.name, w.name, bad.want, err)
			}
			if w.stored(t) {
				t.Fatalf("%s, %s: the change was made without its event", bad.name, w.name)
			}
		}
		checkChain(t, s, "acme", 1)
	}
}

// A write whose context ends before it commits leaves neither the change nor its event.
func testManagedWriteCancelledCommitsNothing(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	b := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, b)
	d := NewDelegation(a, b)
	mustDelegate(t, s, d)

	cctx, cancel := context.WithCancel(ctx)
	_, err := s.UpdateAgent(store.WithAudit(cctx, newManagementEvent(agent.DefaultTenant, "agent.update", a.ID)), a.ID,
		func(a *agent.Agent) error {
			a.Name = "cancelled"
			cancel()
			return nil
		})
	if err == nil {
		t.Fatal("UpdateAgent cancelled mid-write: want an error")
	}
	cctx, cancel = context.WithCancel(ctx)
	_, err = s.UpdateDelegation(store.WithAudit(cctx, newManagementEvent(agent.DefaultTenant, "delegation.revoke", d.ID)), d.ID,
		func(d *agent.Delegation) error {
			d.Status = agent.DelegationRevoked
			cancel()
			return nil
		})
	if err == nil {
		t.Fatal("UpdateDelegation cancelled mid-write: want an error")
	}
	if got, err := s.GetAgent(ctx, a.ID); err != nil || got.Name == "cancelled" {
		t.Fatalf("the cancelled update was committed: %+v %v", got, err)
	}
	if got, err := s.GetDelegation(ctx, d.ID); err != nil || got.Status != agent.DelegationActive {
		t.Fatalf("the cancelled revocation was committed: %+v %v", got, err)
	}
	checkChain(t, s, agent.DefaultTenant, 0)
}

// Pruning commits the event that records it, whether or not anything was removed.
func testManagedPruneCommitsItsEvent(t *testing.T, s store.Store) {
	t0 := now()
	for i := range 3 {
		if err := s.AppendAudit(ctx, NewDecisionEvent(agent.DefaultTenant, "agt_a", t0.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	pruned := newManagementEvent(agent.DefaultTenant, "audit.prune", "audit:default")
	base, err := s.PruneAudit(store.WithAudit(ctx, pruned), agent.DefaultTenant, 3, t0)
	if err != nil || base.Seq != 3 || pruned.Seq != 4 {
		t.Fatalf("prune: base %+v, event seq %d, %v", base, pruned.Seq, err)
	}
	noop := newManagementEvent(agent.DefaultTenant, "audit.prune", "audit:default")
	if _, err := s.PruneAudit(store.WithAudit(ctx, noop), agent.DefaultTenant, 2, t0); err != nil || noop.Seq != 5 {
		t.Fatalf("a prune that removes nothing still records its event: seq %d, %v", noop.Seq, err)
	}
	got := collect(t, s, store.AuditQuery{TenantID: agent.DefaultTenant})
	if len(got) != 3 || got[0].Seq != 3 || got[1].ID != pruned.ID || got[2].ID != noop.ID {
		t.Fatalf("after pruning: %s", dumpEvents(got))
	}
}
