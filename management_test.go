package kavach_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// stuckRecorder accepts events and never writes them: an audit queue that never drains.
type stuckRecorder struct {
	mu     sync.Mutex
	events []*store.AuditEvent
}

func (r *stuckRecorder) Record(_ context.Context, e *store.AuditEvent) error {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	return nil
}

// eachBackendWith runs fn over SQLite and over Postgres, with Kavach opened by cfg (the
// database filled in).
func eachBackendWith(t *testing.T, cfg kavach.Config, fn func(t *testing.T, f *fixture)) {
	run := func(t *testing.T, db string) {
		f := &fixture{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), db: db}
		c := cfg
		c.Database, c.Now, c.Audit.SigningKey = db, f.clock, testAuditKey
		k, err := kavach.Open(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		f.k = k
		fn(t, f)
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		run(t, "sqlite://"+filepath.Join(t.TempDir(), "kavach.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		run(t, pgtest.URL(t))
	})
}

// change is a management action that was acknowledged, and the object it names.
type change struct{ action, object string }

// managementEvents returns the tenant's management events as changes, in chain order.
func managementEvents(t *testing.T, f *fixture, tenant string) []change {
	t.Helper()
	events, err := store.CollectAudit(context.Background(), f.k.Store(), store.AuditQuery{TenantID: tenant})
	if err != nil {
		t.Fatal(err)
	}
	var out []change
	for _, e := range events {
		if e.Kind == audit.KindManagement {
			out = append(out, change{e.Action, e.Resource})
		}
	}
	return out
}

// verifyChain checkpoints the chains and verifies the tenant's.
func verifyChain(t *testing.T, f *fixture, tenant string) {
	t.Helper()
	if err := f.k.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := f.k.Audit().Verify(root, tenant)
	if err != nil || !r.OK {
		t.Fatalf("chain of %s: %+v, %v", tenant, r, err)
	}
}

// must returns v, or fails the test with err: must(call(...))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// Every acknowledged management change has its event in the ledger, even when nothing the
// audit pipeline is handed ever reaches it: the event commits with the change.
func TestManagementEventsCommitWithTheirChange(t *testing.T) {
	eachBackendWith(t, kavach.Config{Recorder: &stuckRecorder{}}, func(t *testing.T, f *fixture) {
		k := f.k
		var want []change

		tenant := must(k.Tenants().Create(root, api.CreateTenantRequest{ID: "acme"}))(t)
		key := must(k.APIKeys().Create(root, api.CreateAPIKeyRequest{Role: api.RoleAdmin, TenantID: "acme"}))(t)
		must(k.APIKeys().Revoke(root, key.ID))(t)
		acme := []change{{"tenant.create", tenant.ID}, {"apikey.create", key.ID}, {"apikey.revoke", key.ID}}

		a := create(t, f, alice, api.CreateAgentRequest{Permissions: append(githubReader(), gated("carol")...)})
		b := create(t, f, alice, api.CreateAgentRequest{Type: agent.TypeDelegated, Permissions: []agent.Permission{}})
		want = append(want, change{"agent.create", a.ID}, change{"agent.create", b.ID})
		must(k.Agents().Update(alice, a.ID, api.UpdateAgentRequest{Name: ptr("renamed")}))(t)
		must(k.Agents().Rotate(alice, a.ID, api.RotateRequest{}))(t)
		want = append(want, change{"agent.update", a.ID}, change{"agent.rotate", a.ID})
		d := delegate(t, f, alice, a.ID, b.ID, 0, perm("mcp:github:repos", "read"))
		must(k.Delegations().Revoke(alice, d.ID))(t)
		want = append(want, change{"delegation.create", d.ID}, change{"delegation.revoke", d.ID})

		carol := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleUser, TenantID: "default", OwnerID: "carol"})
		dev := authorize(t, f, alice, a.ID, push("dev"))
		main := authorize(t, f, alice, a.ID, push("main"))
		if dev.ApprovalID == "" || main.ApprovalID == "" {
			t.Fatalf("gated calls must open approvals: %+v %+v", dev, main)
		}
		must(k.Approvals().Approve(carol, dev.ApprovalID, api.ApproveRequest{Reason: "ok", Uses: 2}))(t)
		must(k.Approvals().Deny(alice, main.ApprovalID, api.DenyRequest{Reason: "no"}))(t)
		want = append(want, change{"approval.approve", dev.ApprovalID}, change{"approval.deny", main.ApprovalID})

		must(k.Agents().Revoke(alice, b.ID))(t)
		must(k.Agents().Revoke(alice, a.ID))(t)
		want = append(want, change{"agent.revoke", b.ID}, change{"agent.revoke", a.ID})

		if got := managementEvents(t, f, "default"); !slices.Equal(got, want) {
			t.Fatalf("management events of default:\n got  %v\n want %v", got, want)
		}
		if got := managementEvents(t, f, "acme"); !slices.Equal(got, acme) {
			t.Fatalf("management events of acme:\n got  %v\n want %v", got, acme)
		}
		verifyChain(t, f, "default")
		verifyChain(t, f, "acme")

		// Pruning is audited too, and the pruned chain still verifies.
		f.advance(time.Hour)
		must(k.PruneAudit(root, "acme", f.clock()))(t)
		got := managementEvents(t, f, "acme")
		if len(got) != 2 || got[0] != acme[2] || got[1] != (change{"audit.prune", "audit:acme"}) {
			t.Fatalf("after pruning acme: %v", got)
		}
		verifyChain(t, f, "acme")
	})
}

// A change whose event cannot be written is not made.
func TestManagementChangeFailsWithoutItsEvent(t *testing.T) {
	eachBackendWith(t, kavach.Config{Audit: kavach.AuditConfig{Sync: true}}, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{})
		execRaw(t, f, `ALTER TABLE audit_events RENAME TO audit_events_away`)
		if _, err := f.k.Agents().Create(alice, api.CreateAgentRequest{Name: "unaudited", Permissions: githubReader()}); err == nil {
			t.Fatal("an agent was created although its event could not be written")
		}
		if _, err := f.k.Agents().Revoke(alice, a.ID); err == nil {
			t.Fatal("an agent was revoked although its event could not be written")
		}
		if _, err := f.k.Tenants().Create(root, api.CreateTenantRequest{ID: "acme"}); err == nil {
			t.Fatal("a tenant was created although its event could not be written")
		}
		execRaw(t, f, `ALTER TABLE audit_events_away RENAME TO audit_events`)

		list := must(f.k.Agents().List(alice, api.ListAgentsRequest{}))(t)
		if len(list.Agents) != 1 || list.Agents[0].ID != a.ID || list.Agents[0].Status != agent.StatusActive {
			t.Fatalf("nothing may have changed: %+v", list.Agents)
		}
		if _, err := f.k.Store().GetTenant(context.Background(), "acme"); !store.IsNotFound(err) {
			t.Fatalf("the tenant must not exist: %v", err)
		}
		if got := managementEvents(t, f, "default"); !slices.Equal(got, []change{{"agent.create", a.ID}}) {
			t.Fatalf("management events: %v", got)
		}
		verifyChain(t, f, "default")
	})
}

// Management changes and decisions written at once, by the asynchronous pipeline and
// inside the changes' transactions, make one chain with every change in it.
func TestManagementEventsUnderConcurrentDecisions(t *testing.T) {
	eachBackendWith(t, kavach.Config{}, func(t *testing.T, f *fixture) {
		const workers, rounds = 4, 8
		var (
			mu   sync.Mutex
			want = map[change]bool{}
			wg   sync.WaitGroup
			errs = make(chan error, workers)
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					a, err := f.k.Agents().Create(alice, api.CreateAgentRequest{Name: fmt.Sprintf("w%d-%d", w, i), Permissions: githubReader()})
					if err != nil {
						errs <- err
						return
					}
					for range 3 {
						if _, err := f.k.Authorize(alice, a.ID, readRepos, api.CallContext{}); err != nil {
							errs <- err
							return
						}
					}
					if _, err := f.k.Agents().Revoke(alice, a.ID); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					want[change{"agent.create", a.ID}], want[change{"agent.revoke", a.ID}] = true, true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got := map[change]bool{}
		for _, c := range managementEvents(t, f, "default") {
			got[c] = true
		}
		for c := range want {
			if !got[c] {
				t.Errorf("no event for %v", c)
			}
		}
		verifyChain(t, f, "default")
	})
}

// The signed checkpoints cover management events, which the pipeline does not write.
func TestCheckpointsCoverManagementEvents(t *testing.T) {
	eachBackendWith(t, kavach.Config{Audit: kavach.AuditConfig{CheckpointInterval: 20 * time.Millisecond}}, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{})
		must(f.k.Agents().Revoke(alice, a.ID))(t)
		head, _, err := f.k.Store().AuditHead(context.Background(), "default")
		if err != nil || head < 2 {
			t.Fatalf("head %d, %v", head, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			cp, err := f.k.Store().LatestCheckpoint(context.Background(), "default")
			if err == nil && cp.Seq == head {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint of the head (seq %d) within 5s: %+v %v", head, cp, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
