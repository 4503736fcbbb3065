package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
	"github.com/kavachos/kavach-go/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) }, storetest.WithSecond(openSecond))
}

// open returns a store over a new schema that the test owns.
func open(tb testing.TB) store.Store {
	s, err := postgres.Open(context.Background(), pgtest.URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Agents written while their documents were jsonb come back as they went in: the
// migration to json keeps jsonb's rendering of them (spaces, keys reordered).
func TestAgentsWrittenAsJSONBStillLoad(t *testing.T) {
	t.Parallel()
	s := open(t).(*postgres.Store)
	ctx := context.Background()
	a := storetest.NewAgent(agent.DefaultTenant, "user_1")
	if err := s.CreateAgent(ctx, a, agent.HashToken(agent.MintToken())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `UPDATE agents SET permissions = permissions::jsonb::json, metadata = metadata::jsonb::json`); err != nil {
		t.Fatal(err)
	}
	var doc string
	if err := s.Pool().QueryRow(ctx, `SELECT permissions::text FROM agents`).Scan(&doc); err != nil || !strings.Contains(doc, `"id": "`) {
		t.Fatalf("the document is not in jsonb's rendering: %s, %v", doc, err)
	}
	var got []*agent.Agent
	if err := s.AllAgents(ctx, func(a *agent.Agent) error { got = append(got, a); return nil }); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(a)
	if b, _ := json.Marshal(got[0]); len(got) != 1 || string(b) != string(want) {
		t.Fatalf("got %s, want %s", b, want)
	}
}

// Statements are client spans of the caller's span: queries, batches, COPY and failures,
// without argument values.
func TestStatementSpans(t *testing.T) {
	spans := storetest.StatementSpans(t, open(t), "postgresql")
	names := map[string]bool{}
	for _, sp := range spans {
		names[sp.Name()] = true
		if sp.Name() == "COPY audit_events" {
			for _, kv := range sp.Attributes() {
				if kv.Key == "db.response.rows_affected" && kv.Value.AsInt64() != 70 {
					t.Errorf("COPY span: %d rows, want 70", kv.Value.AsInt64())
				}
			}
		}
	}
	for _, want := range []string{"SELECT agents", "COPY audit_events", "BATCH", "INSERT agents"} {
		if !names[want] {
			t.Errorf("no span named %q among %v", want, names)
		}
	}
}
