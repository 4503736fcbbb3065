package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// NewDecisionEvent returns an audit event for a decision, with every field set.
func NewDecisionEvent(tenant, agentID string, at time.Time) *store.AuditEvent {
	return &store.AuditEvent{
		ID: agent.NewID("evt_"), Time: at, TenantID: tenant, Kind: "decision",
		AgentID: agentID, OwnerID: "user_1", Actor: "app_1", Action: "write", Resource: "mcp:github:repos",
		Arguments: map[string]any{"branch": "dev", "token": "***", "depth": 2.0, "big": int64(1) << 60, "opts": map[string]any{"dry": true}},
		Result:    "denied", Code: "RATE_LIMITED", Reason: "limit of 10 per 1m, reached \"now\"\nagain", DurationNS: 123456,
		IP: "2001:db8::1", UserAgent: "kavach-test/1.0", Grant: "perm_1", Via: []string{"dlg_parent", "dlg_root"},
		ApprovalID: "apr_1", Revision: "rev-1",
	}
}

func dumpEvents(events []*store.AuditEvent) string {
	out := make([]store.AuditEvent, len(events))
	for i, e := range events {
		out[i] = *e
		out[i].Time = e.Time.UTC()
		out[i].Arguments = nil // compared through ArgumentsJSON, the stored text
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		panic(err)
	}
	return string(b)
}

func collect(t *testing.T, s store.Store, q store.AuditQuery) []*store.AuditEvent {
	t.Helper()
	events, err := store.CollectAudit(ctx, s, q)
	if err != nil {
		t.Fatalf("StreamAudit: %v", err)
	}
	return events
}

// checkChain verifies a tenant's stored chain link by link.
func checkChain(t *testing.T, s store.Store, tenant string, want int) {
	t.Helper()
	events := collect(t, s, store.AuditQuery{TenantID: tenant})
	if len(events) != want {
		t.Fatalf("tenant %s has %d events, want %d", tenant, len(events), want)
	}
	prev := ""
	for i, e := range events {
		if e.Seq != int64(i+1) || e.PrevHash != prev || e.Hash != store.ChainHash(prev, e) {
			t.Fatalf("chain broken at position %d: seq %d, links %q (want %q)", i, e.Seq, e.PrevHash, prev)
		}
		prev = e.Hash
	}
	seq, hash, err := s.AuditHead(ctx, tenant)
	if err != nil || seq != int64(want) || hash != prev {
		t.Fatalf("head (%d, %q) does not match the chain (%d, %q): %v", seq, hash, want, prev, err)
	}
}

func testAuditRoundTrip(t *testing.T, s store.Store) {
	t0 := now()
	full := NewDecisionEvent(agent.DefaultTenant, "agt_a", t0.Add(2*time.Millisecond))
	management := &store.AuditEvent{ID: agent.NewID("evt_"), Time: t0, TenantID: agent.DefaultTenant,
		Kind: "management", Actor: "user_1", Action: "agent.create", Resource: "agt_a", Result: "allowed"}
	empty := NewDecisionEvent(agent.DefaultTenant, "agt_b", t0.Add(time.Millisecond))
	empty.Arguments, empty.Via = map[string]any{}, nil
	elsewhere := NewDecisionEvent("acme", "agt_a", t0)
	if err := s.AppendAudit(ctx, full, elsewhere, management, empty); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx); err != nil {
		t.Fatalf("appending nothing: %v", err)
	}
	// Seq is assigned in append order within each tenant.
	got := collect(t, s, store.AuditQuery{TenantID: agent.DefaultTenant})
	if g, w := dumpEvents(got), dumpEvents([]*store.AuditEvent{full, management, empty}); g != w {
		t.Fatalf("round trip:\n got  %s\n want %s", g, w)
	}
	if got[0].Seq != 1 || got[2].Seq != 3 || got[0].Arguments["big"] == nil {
		t.Fatalf("seq or arguments: %+v", got[0])
	}
	if got[1].ArgumentsJSON != "" || got[2].ArgumentsJSON != "{}" {
		t.Errorf("nil and empty arguments must stay apart: %q, %q", got[1].ArgumentsJSON, got[2].ArgumentsJSON)
	}
	if e := collect(t, s, store.AuditQuery{TenantID: "acme"}); len(e) != 1 || e[0].Seq != 1 || e[0].PrevHash != "" {
		t.Fatalf("each tenant has its own chain: %+v", e)
	}
	checkChain(t, s, agent.DefaultTenant, 3)
	tenants, err := s.AuditTenants(ctx)
	if err != nil || fmt.Sprint(tenants) != "[acme default]" {
		t.Fatalf("AuditTenants: %v %v", tenants, err)
	}
}

func testAuditQuery(t *testing.T, s store.Store) {
	t0 := now()
	var all []*store.AuditEvent
	for i := range 10 {
		e := NewDecisionEvent(agent.DefaultTenant, fmt.Sprintf("agt_%d", i%2), t0.Add(time.Duration(i)*time.Second))
		if i%3 == 0 {
			e.Result, e.Code, e.Action = "allowed", "ALLOWED", "read"
		}
		all = append(all, e)
	}
	if err := s.AppendAudit(ctx, all...); err != nil {
		t.Fatal(err)
	}
	seqs := func(q store.AuditQuery) string {
		q.TenantID = agent.DefaultTenant
		var out []int64
		for _, e := range collect(t, s, q) {
			out = append(out, e.Seq)
		}
		return fmt.Sprint(out)
	}
	cases := []struct {
		q    store.AuditQuery
		want string
	}{
		{store.AuditQuery{}, "[1 2 3 4 5 6 7 8 9 10]"},
		{store.AuditQuery{Desc: true, Limit: 3}, "[10 9 8]"},
		{store.AuditQuery{AfterSeq: 7}, "[8 9 10]"},
		{store.AuditQuery{BeforeSeq: 4, Desc: true}, "[3 2 1]"},
		{store.AuditQuery{AgentID: "agt_1"}, "[2 4 6 8 10]"},
		{store.AuditQuery{Result: "allowed"}, "[1 4 7 10]"},
		{store.AuditQuery{Code: "ALLOWED", AgentID: "agt_0"}, "[1 7]"},
		{store.AuditQuery{Action: "read", Limit: 2}, "[1 4]"},
		{store.AuditQuery{OwnerID: "nobody"}, "[]"},
		{store.AuditQuery{Since: t0.Add(3 * time.Second), Until: t0.Add(5 * time.Second)}, "[4 5]"},
	}
	for _, c := range cases {
		if got := seqs(c.q); got != c.want {
			t.Errorf("%+v: got %s, want %s", c.q, got, c.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := s.StreamAudit(ctx, store.AuditQuery{TenantID: agent.DefaultTenant}, func(*store.AuditEvent) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("an error from fn must stop the walk: %v after %d", err, n)
	}
}

// testAuditAppendIdempotent: appending events the ledger already holds (a retry after an
// ambiguous COMMIT) succeeds without duplicating them, appends only the rest, and gives
// each event its committed place; an id held with other content appends nothing.
func testAuditAppendIdempotent(t *testing.T, s store.Store) {
	t0 := now()
	first := NewDecisionEvent(agent.DefaultTenant, "agt_a", t0)
	if err := s.AppendAudit(ctx, first); err != nil {
		t.Fatal(err)
	}
	// The resent copy carries stale chain fields, as a writer's retry would.
	again := *first
	again.Seq, again.PrevHash, again.Hash = 7, "stale", "stale"
	second := NewDecisionEvent(agent.DefaultTenant, "agt_a", t0.Add(time.Second))
	if err := s.AppendAudit(ctx, &again, second); err != nil {
		t.Fatalf("resending a committed event with a new one: %v", err)
	}
	checkChain(t, s, agent.DefaultTenant, 2)
	if again.Seq != 1 || again.Hash != first.Hash || second.Seq != 2 {
		t.Fatalf("committed event got seq %d hash %q, new one seq %d; want 1, %q, 2", again.Seq, again.Hash, second.Seq, first.Hash)
	}
	// A whole batch already committed appends nothing.
	fresh := NewDecisionEvent(agent.DefaultTenant, "agt_a", t0)
	fresh.ID = second.ID
	fresh.Time = second.Time
	if err := s.AppendAudit(ctx, fresh); err != nil || fresh.Seq != 2 {
		t.Fatalf("resending a committed batch: seq %d, %v", fresh.Seq, err)
	}
	checkChain(t, s, agent.DefaultTenant, 2)

	// Same id, other content: nothing of the batch is appended, and the error says why.
	forged := *first
	forged.Code = "ALLOWED"
	err := s.AppendAudit(ctx, NewDecisionEvent(agent.DefaultTenant, "agt_a", t0.Add(2*time.Second)), &forged)
	var ie *store.IntegrityError
	if !errors.Is(err, store.ErrIntegrity) || !errors.As(err, &ie) || ie.ID != first.ID {
		t.Fatalf("an id committed with other content: want an IntegrityError naming %s, got %v", first.ID, err)
	}
	checkChain(t, s, agent.DefaultTenant, 2)
	// The next append continues the chain as if the failed one never happened.
	if err := s.AppendAudit(ctx, NewDecisionEvent(agent.DefaultTenant, "agt_a", t0)); err != nil {
		t.Fatal(err)
	}
	checkChain(t, s, agent.DefaultTenant, 3)
}

func testAuditConcurrentAppendsStayGapFree(t *testing.T, s store.Store) {
	const writers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				tenant := agent.DefaultTenant
				if i%4 == 0 {
					tenant = "acme"
				}
				if err := s.AppendAudit(ctx, NewDecisionEvent(tenant, fmt.Sprintf("agt_%d", w), now()),
					NewDecisionEvent(agent.DefaultTenant, "agt_x", now())); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkChain(t, s, "acme", writers*each/4)
	checkChain(t, s, agent.DefaultTenant, writers*each*2-writers*each/4)
}

func testAuditCheckpointsAndPruning(t *testing.T, s store.Store) {
	if _, err := s.LatestCheckpoint(ctx, agent.DefaultTenant); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no checkpoint yet: %v", err)
	}
	for i := range 10 {
		if err := s.AppendAudit(ctx, NewDecisionEvent(agent.DefaultTenant, "agt_a", now().Add(time.Duration(i)))); err != nil {
			t.Fatal(err)
		}
	}
	seq, hash, _ := s.AuditHead(ctx, agent.DefaultTenant)
	for _, c := range []*store.AuditCheckpoint{
		{TenantID: agent.DefaultTenant, Seq: 5, Hash: "h5", SignedAt: now(), PublicKey: "pk", Signature: "s5"},
		{TenantID: agent.DefaultTenant, Seq: seq, Hash: hash, SignedAt: now(), PublicKey: "pk", Signature: "s10"},
		{TenantID: agent.DefaultTenant, Seq: 5, Hash: "other", SignedAt: now(), PublicKey: "pk", Signature: "x"},
	} {
		if err := s.SaveCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.LatestCheckpoint(ctx, agent.DefaultTenant)
	if err != nil || c.Seq != 10 || c.Hash != hash || c.Signature != "s10" {
		t.Fatalf("latest checkpoint: %+v %v", c, err)
	}
	if _, err := s.AuditBase(ctx, agent.DefaultTenant); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("nothing pruned yet: %v", err)
	}
	events := collect(t, s, store.AuditQuery{TenantID: agent.DefaultTenant})
	base, err := s.PruneAudit(ctx, agent.DefaultTenant, 4, now())
	if err != nil || base.Seq != 4 || base.PrevHash != events[2].Hash {
		t.Fatalf("prune: %+v %v", base, err)
	}
	left := collect(t, s, store.AuditQuery{TenantID: agent.DefaultTenant})
	if len(left) != 7 || left[0].Seq != 4 || left[0].PrevHash != base.PrevHash {
		t.Fatalf("after pruning: %d events from seq %d", len(left), left[0].Seq)
	}
	// Pruning never removes the head, and never moves the base backwards.
	if base, err := s.PruneAudit(ctx, agent.DefaultTenant, 1000, now()); err != nil || base.Seq != 10 {
		t.Fatalf("prune past the head: %+v %v", base, err)
	}
	if base, err := s.PruneAudit(ctx, agent.DefaultTenant, 2, now()); err != nil || base.Seq != 10 {
		t.Fatalf("prune backwards: %+v %v", base, err)
	}
	if got, _ := s.AuditBase(ctx, agent.DefaultTenant); got.Seq != 10 {
		t.Fatalf("base: %+v", got)
	}
	if err := s.AppendAudit(ctx, NewDecisionEvent(agent.DefaultTenant, "agt_a", now())); err != nil {
		t.Fatal(err)
	}
	if e := collect(t, s, store.AuditQuery{TenantID: agent.DefaultTenant, AfterSeq: 10}); len(e) != 1 || e[0].Seq != 11 {
		t.Fatalf("the chain goes on after pruning: %+v", e)
	}
}
