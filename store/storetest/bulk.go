package storetest

import (
	"errors"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

func bulkCreator(t *testing.T, s store.Store) store.BulkAgentCreator {
	t.Helper()
	b, ok := s.(store.BulkAgentCreator)
	if !ok {
		t.Skip("the store has no bulk path (store.BulkAgentCreator)")
	}
	return b
}

func newBatch(tenants ...string) []store.AgentWithTokenHash {
	batch := make([]store.AgentWithTokenHash, len(tenants))
	for i, tenant := range tenants {
		batch[i] = store.AgentWithTokenHash{Agent: NewAgent(tenant, "user_1"), TokenHash: agent.HashToken(agent.MintToken())}
	}
	return batch
}

func testCreateAgentsInBulk(t *testing.T, s store.Store) {
	bulk := bulkCreator(t, s)
	if err := s.CreateTenant(ctx, &agent.Tenant{ID: "acme", Name: "Acme", CreatedAt: now()}); err != nil {
		t.Fatal(err)
	}
	if err := bulk.CreateAgents(ctx, nil); err != nil {
		t.Fatalf("an empty batch: %v", err)
	}
	batch := newBatch(agent.DefaultTenant, "acme", agent.DefaultTenant)
	batch[1].Agent.ExpiresAt, batch[1].Agent.Permissions, batch[1].Agent.Metadata = nil, nil, nil
	if err := bulk.CreateAgents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, b := range batch {
		got, err := s.GetAgent(ctx, b.Agent.ID)
		if err != nil {
			t.Fatal(err)
		}
		equalAgents(t, got, b.Agent)
		if got, _, err := s.AgentByTokenHash(ctx, b.TokenHash, now()); err != nil || got.ID != b.Agent.ID {
			t.Fatalf("the agent's token does not find it: %v, %v", got, err)
		}
	}
	n := 0
	if err := s.AllAgents(ctx, func(a *agent.Agent) error {
		if a.ID != batch[n].Agent.ID {
			t.Errorf("agent %d of the walk is %s, want %s", n, a.ID, batch[n].Agent.ID)
		}
		n++
		return nil
	}); err != nil || n != len(batch) {
		t.Fatalf("AllAgents walked %d agents (%v), want %d", n, err, len(batch))
	}
}

func testCreateAgentsConflictsWriteNothing(t *testing.T, s store.Store) {
	bulk := bulkCreator(t, s)
	stored := newBatch(agent.DefaultTenant)[0]
	if err := s.CreateAgent(ctx, stored.Agent, stored.TokenHash); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		spoil func(batch []store.AgentWithTokenHash)
		want  error
	}{
		{"stored id", func(b []store.AgentWithTokenHash) { b[1].Agent.ID = stored.Agent.ID }, store.ErrConflict},
		{"stored token hash", func(b []store.AgentWithTokenHash) { b[2].TokenHash = stored.TokenHash }, store.ErrConflict},
		{"id twice in the batch", func(b []store.AgentWithTokenHash) { b[2].Agent.ID = b[0].Agent.ID }, store.ErrConflict},
		{"token hash twice in the batch", func(b []store.AgentWithTokenHash) { b[1].TokenHash = b[0].TokenHash }, store.ErrConflict},
		{"unknown tenant", func(b []store.AgentWithTokenHash) { b[2].Agent.TenantID = "no-such-tenant" }, store.ErrNotFound},
	}
	for _, c := range cases {
		batch := newBatch(agent.DefaultTenant, agent.DefaultTenant, agent.DefaultTenant)
		c.spoil(batch)
		if err := bulk.CreateAgents(ctx, batch); !errors.Is(err, c.want) {
			t.Fatalf("%s: want %v, got %v", c.name, c.want, err)
		}
		list, _, err := s.ListAgents(ctx, store.AgentFilter{TenantID: agent.DefaultTenant})
		if err != nil || len(list) != 1 {
			t.Fatalf("%s: a failed batch must write nothing: %d agents, %v", c.name, len(list), err)
		}
		if _, _, err := s.AgentByTokenHash(ctx, batch[0].TokenHash, now()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: a failed batch stored a token: %v", c.name, err)
		}
	}
}

// A walk over many agents stopped early returns the error at once and leaves the store
// usable: a backend reading rows ahead of fn must stop reading and release its connection.
func testAllAgentsStoppedEarly(t *testing.T, s store.Store) {
	bulk := bulkCreator(t, s)
	tenants := make([]string, 3000)
	for i := range tenants {
		tenants[i] = agent.DefaultTenant
	}
	if err := bulk.CreateAgents(ctx, newBatch(tenants...)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	for _, stopAt := range []int{1, 300, 2999} {
		calls := 0
		err := s.AllAgents(ctx, func(*agent.Agent) error {
			if calls++; calls == stopAt {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) || calls != stopAt {
			t.Fatalf("stopping at %d: %d calls, %v", stopAt, calls, err)
		}
	}
	n := 0
	if err := s.AllAgents(ctx, func(*agent.Agent) error { n++; return nil }); err != nil || n != len(tenants) {
		t.Fatalf("a whole walk after stopped ones: %d agents, %v", n, err)
	}
}
