package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// BenchmarkTracerOff is what pgx's query hooks cost a statement while tracing is off.
func BenchmarkTracerOff(b *testing.B) {
	var t tracer
	ctx := context.Background()
	start := pgx.TraceQueryStartData{SQL: "SELECT id FROM agents WHERE id = $1", Args: []any{"agt_1"}}
	end := pgx.TraceQueryEndData{CommandTag: pgconn.NewCommandTag("SELECT 1")}
	b.ReportAllocs()
	for b.Loop() {
		t.TraceQueryEnd(t.TraceQueryStart(ctx, nil, start), nil, end)
	}
}
