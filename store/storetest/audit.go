package storetest

import (
	"encoding/json"
	"errors"
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
		Arguments: map[string]any{"branch": "dev", "token": "***", "depth": 2.0, "opts": map[string]any{"dry": true}},
		Result:    "denied", Code: "RATE_LIMITED", Reason: "limit of 10 per 1m reached", DurationNS: 123456,
		IP: "2001:db8::1", UserAgent: "kavach-test/1.0", Grant: "perm_1", Via: []string{"agt_parent", "agt_root"},
		ApprovalID: "apr_1",
	}
}

func dumpEvents(events []*store.AuditEvent) string {
	out := make([]store.AuditEvent, len(events))
	for i, e := range events {
		out[i] = *e
		out[i].Time = e.Time.UTC()
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		panic(err)
	}
	return string(b)
}

func listAudit(t *testing.T, s store.Store, tenant, agentID string, limit int) []*store.AuditEvent {
	t.Helper()
	events, err := s.ListAudit(ctx, tenant, agentID, limit)
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	return events
}

func testAuditRoundTrip(t *testing.T, s store.Store) {
	t0 := now()
	full := NewDecisionEvent(agent.DefaultTenant, "agt_a", t0.Add(2*time.Millisecond))
	management := &store.AuditEvent{ID: agent.NewID("evt_"), Time: t0, TenantID: agent.DefaultTenant,
		Kind: "management", Actor: "user_1", Action: "agent.create", Resource: "agt_a", Result: "allowed"}
	// Two events in the same microsecond come back in id order.
	sameA := NewDecisionEvent(agent.DefaultTenant, "agt_b", t0.Add(time.Millisecond))
	sameB := NewDecisionEvent(agent.DefaultTenant, "agt_a", t0.Add(time.Millisecond))
	sameA.Arguments, sameA.Via = map[string]any{}, nil
	elsewhere := NewDecisionEvent("acme", "agt_a", t0)
	if err := s.AppendAudit(ctx, full, sameB, elsewhere, management, sameA); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx); err != nil {
		t.Fatalf("appending nothing: %v", err)
	}

	cases := []struct {
		agentID string
		limit   int
		want    []*store.AuditEvent
	}{
		{"", 0, []*store.AuditEvent{management, sameA, sameB, full}},
		{"", 2, []*store.AuditEvent{management, sameA}},
		{"agt_a", 0, []*store.AuditEvent{sameB, full}},
		{"agt_none", 0, nil},
	}
	for _, c := range cases {
		got := listAudit(t, s, agent.DefaultTenant, c.agentID, c.limit)
		if g, w := dumpEvents(got), dumpEvents(c.want); g != w {
			t.Errorf("agent %q limit %d:\n got  %s\n want %s", c.agentID, c.limit, g, w)
		}
	}
	if got := listAudit(t, s, "acme", "", 0); dumpEvents(got) != dumpEvents([]*store.AuditEvent{elsewhere}) {
		t.Errorf("tenant acme: got %s", dumpEvents(got))
	}
	got := listAudit(t, s, agent.DefaultTenant, "", 0)
	if got[0].Arguments != nil || got[1].Arguments == nil {
		t.Errorf("nil and empty arguments must stay apart: %#v, %#v", got[0].Arguments, got[1].Arguments)
	}
}

func testAuditAllOrNothing(t *testing.T, s store.Store) {
	t0 := now()
	first := NewDecisionEvent(agent.DefaultTenant, "agt_a", t0)
	if err := s.AppendAudit(ctx, first); err != nil {
		t.Fatal(err)
	}
	batch := []*store.AuditEvent{
		NewDecisionEvent(agent.DefaultTenant, "agt_a", t0.Add(time.Second)),
		first, // already stored
	}
	if err := s.AppendAudit(ctx, batch...); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a duplicate event id: want ErrConflict, got %v", err)
	}
	if got := listAudit(t, s, agent.DefaultTenant, "", 0); len(got) != 1 {
		t.Fatalf("a failed append wrote: %d events stored, want 1", len(got))
	}
}
