// Package spantest records Kavach's trace spans in memory, for tests.
package spantest

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kavachos/kavach-go/telemetry"
)

// Record installs a tracer provider that keeps every span in memory, for the rest of the
// test, and turns Kavach's spans on. Tracing is process-wide: tests that use it do not run
// in parallel with each other, and pick their spans out by trace or name.
func Record(t testing.TB) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	telemetry.Install(tp)
	t.Cleanup(func() {
		telemetry.Uninstall()
		_ = tp.Shutdown(context.Background())
	})
	return exp
}
