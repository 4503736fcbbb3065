package kavach_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/api"
)

const (
	traceA = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceB = "0af7651916cd43dd8448eb211c80319c"
)

// inTrace returns ctx inside the trace a caller's traceparent named.
func inTrace(t *testing.T, ctx context.Context, traceID string) context.Context {
	t.Helper()
	tid, err := trace.TraceIDFromHex(traceID)
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled, Remote: true})
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// A decision made in a trace records its trace id in the ledger, where it is queried by
// and covered by the hash chain: changing, removing or adding a trace id in the database
// is named by verification, while events without one verify as they always have.
func TestAuditTraceIDIsRecordedAndTamperEvident(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{})
		traced := authorize(t, f, inTrace(t, alice, traceA), a.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"})
		plain := authorize(t, f, alice, a.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"})

		page, err := f.k.Audit().Query(alice, api.AuditQuery{TraceID: traceA})
		if err != nil || len(page.Events) != 1 || page.Events[0].ID != traced.AuditID || page.Events[0].TraceID != traceA {
			t.Fatalf("query by trace id: %+v, %v", page, err)
		}
		if page, err := f.k.Audit().Query(alice, api.AuditQuery{TraceID: strings.ToUpper(traceA)}); err != nil || len(page.Events) != 1 {
			t.Fatalf("a trace id in upper case: %+v, %v", page, err)
		}
		var ae *api.Error
		if _, err := f.k.Audit().Query(alice, api.AuditQuery{TraceID: "00-" + traceA}); !errors.As(err, &ae) || ae.Code != api.CodeInvalidInput {
			t.Fatalf("a malformed trace id filter: want invalid input, got %v", err)
		}
		events, err := auditEvents(t, f, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if want := map[bool]string{true: traceA}[e.ID == traced.AuditID]; e.TraceID != want {
				t.Fatalf("event %s has trace id %q, want %q", e.ID, e.TraceID, want)
			}
		}
		if err := f.k.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := verify(t, f); !r.OK {
			t.Fatalf("a ledger with and without trace ids: %+v", r)
		}

		for _, tc := range []struct {
			name, id string
			value    any
		}{
			{"changed", traced.AuditID, traceB},
			{"removed", traced.AuditID, nil},
			{"added", plain.AuditID, traceB},
		} {
			var restore any
			if tc.id == traced.AuditID {
				restore = traceA
			}
			execRaw(t, f, `UPDATE audit_events SET trace_id = $ WHERE id = $`, tc.value, tc.id)
			if r := verify(t, f); r.OK || r.FirstBrokenID != tc.id {
				t.Fatalf("a trace id %s in the database must be named: %+v", tc.name, r)
			}
			execRaw(t, f, `UPDATE audit_events SET trace_id = $ WHERE id = $`, restore, tc.id)
			if r := verify(t, f); !r.OK {
				t.Fatalf("restored after the trace id was %s: %+v", tc.name, r)
			}
		}
	})
}
