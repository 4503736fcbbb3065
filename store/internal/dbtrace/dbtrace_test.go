package dbtrace

import (
	"context"
	"testing"

	"github.com/kavachos/kavach-go/telemetry"
)

func TestSummary(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ query, op, table string }{
		{"SELECT id, name FROM agents WHERE id = $1", "SELECT", "agents"},
		{"select a.id from agent_tokens t JOIN agents a ON a.id = t.agent_id", "SELECT", "agent_tokens"},
		{"  INSERT INTO audit_heads (tenant_id) VALUES (?)", "INSERT", "audit_heads"},
		{"INSERT OR ROLLBACK INTO audit_events (a, b) VALUES (?,?)", "INSERT", "audit_events"},
		{"UPDATE agents SET name = $1", "UPDATE", "agents"},
		{"DELETE FROM agent_tokens WHERE agent_id = $1", "DELETE", "agent_tokens"},
		{`COPY "audit_events" ("id") FROM STDIN BINARY`, "COPY", "audit_events"},
		{"SELECT count(*) FROM (SELECT 1) AS x", "SELECT", ""},
		{"SELECT pg_advisory_xact_lock($1, hashtext($2))", "SELECT", ""},
		{"PRAGMA data_version", "PRAGMA", ""},
		{"begin", "BEGIN", ""},
		{"", "", ""},
	} {
		if op, table := Summary(c.query); op != c.op || table != c.table {
			t.Errorf("Summary(%q) = %q, %q; want %q, %q", c.query, op, table, c.op, c.table)
		}
	}
}

// While tracing is off, deciding not to trace a statement allocates nothing.
func TestTracedCostsNothingWhileOff(t *testing.T) {
	if telemetry.Enabled() {
		t.Fatal("tracing is on in a test that did not turn it on")
	}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		if Traced(ctx) {
			t.Fatal("traced while off")
		}
	}); n != 0 {
		t.Fatalf("Traced allocates %v times while tracing is off", n)
	}
}
