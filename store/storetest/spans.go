package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/internal/spantest"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/telemetry"
)

// StatementSpans checks a backend's statement spans: store calls made under a span give
// it client child spans with the database system (db.system.name = system), operation and
// query text, rows where known and an error status on failure; no attribute holds an
// argument value; calls outside a span give no span at all. It installs a tracer provider
// for the process: the calling test must not run in parallel.
func StatementSpans(t *testing.T, s store.Store, system string) []sdktrace.ReadOnlySpan {
	exp := spantest.Record(t)

	// Values that must never reach a span: a token, its hash, an agent's name and an
	// audit argument.
	token := agent.MintToken()
	hash := agent.HashToken(token)
	a := NewAgent(agent.DefaultTenant, "user_spans")
	a.Name = "kv_secret_agent_name_7f3c"
	secrets := []string{token, hash, a.Name, "kv_secret_argument_91ab", a.ID}

	if err := s.CreateAgent(ctx, a, agent.HashToken(agent.MintToken())); err != nil { // untraced
		t.Fatal(err)
	}
	traced, parent := telemetry.Start(context.Background(), "store call")
	if _, err := s.RotateToken(traced, a.ID, hash, "kv_prefix", time.Time{}, now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AgentByTokenHash(traced, hash, now()); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAgent(traced, a, hash); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("creating the agent again: want a conflict, got %v", err)
	}
	var events []*store.AuditEvent
	for i := range 70 { // a batch large enough for Postgres's COPY
		e := NewDecisionEvent(agent.DefaultTenant, a.ID, now())
		e.Arguments = map[string]any{"key": "kv_secret_argument_91ab", "i": i}
		events = append(events, e)
	}
	if err := s.AppendAudit(traced, events...); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(traced, events[0], NewDecisionEvent(agent.DefaultTenant, a.ID, now())); err != nil {
		t.Fatal(err)
	}
	parent.End()

	var spans []sdktrace.ReadOnlySpan
	for _, sp := range exp.GetSpans().Snapshots() {
		if sp.SpanContext().TraceID() == parent.SpanContext().TraceID() && sp.Name() != "store call" {
			spans = append(spans, sp)
		}
	}
	if len(spans) == 0 {
		t.Fatal("store calls under a span made no spans")
	}
	var failed, changed, returned bool
	for _, sp := range spans {
		attrs := map[attribute.Key]attribute.Value{}
		for _, kv := range sp.Attributes() {
			attrs[kv.Key] = kv.Value
			for _, secret := range secrets {
				if strings.Contains(kv.Value.Emit(), secret) {
					t.Errorf("span %q: attribute %s holds an argument value (%s)", sp.Name(), kv.Key, secret)
				}
			}
		}
		if strings.Contains(sp.Name(), a.ID) {
			t.Errorf("span name %q holds an argument value", sp.Name())
		}
		if sp.SpanKind() != trace.SpanKindClient || attrs["db.system.name"].AsString() != system ||
			attrs["db.operation.name"].AsString() == "" || attrs["db.query.text"].AsString() == "" {
			t.Errorf("span %q: kind %v, attributes %v", sp.Name(), sp.SpanKind(), sp.Attributes())
		}
		if !sp.Parent().IsValid() || sp.Parent().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("span %q has no parent in the caller's trace", sp.Name())
		}
		op := attrs["db.operation.name"].AsString()
		if !strings.HasPrefix(sp.Name(), strings.Fields(op)[0]) {
			t.Errorf("span %q is not named by its operation %q", sp.Name(), op)
		}
		if sp.Status().Code == codes.Error {
			failed = true
		}
		if v, ok := attrs["db.response.rows_affected"]; ok && v.AsInt64() > 0 {
			changed = true
		}
		if _, ok := attrs["db.response.returned_rows"]; ok {
			returned = true
		}
	}
	if !failed {
		t.Error("the failed insert has no span with an error status")
	}
	if !changed {
		t.Error("no span says how many rows it changed")
	}
	_ = returned // known where the backend tells it (Postgres)

	// Outside a span, nothing is traced.
	exp.Reset()
	if _, _, err := s.AgentByTokenHash(context.Background(), hash, now()); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("a call outside any span made %d spans", n)
	}
	return spans
}
