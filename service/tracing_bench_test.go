package service_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
	"github.com/kavachos/kavach-go/telemetry"
	"github.com/kavachos/kavach-go/tests/bench/latency"
)

// BenchmarkAuthorizeTracing times one authorize request at a time over a keep-alive
// loopback connection to the real service (SQLite, asynchronous ledger), with tracing off
// and on. "on" runs the SDK as `kavach serve` configures it — a batching span processor —
// in front of an exporter that discards, so that what is timed is the instrumentation and
// the SDK, not a collector: sampled=1% keeps one trace in a hundred (parentbased
// traceidratio), sampled=100% keeps every one. Each reports p50 and p99.
func BenchmarkAuthorizeTracing(b *testing.B) {
	for _, c := range []struct {
		name  string
		ratio float64 // <0: tracing off
	}{{"off", -1}, {"sampled=1%", 0.01}, {"sampled=100%", 1}} {
		b.Run(c.name, func(b *testing.B) {
			if c.ratio >= 0 {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()),
					sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.ratio))))
				telemetry.Install(tp)
				b.Cleanup(func() {
					telemetry.Uninstall()
					_ = tp.Shutdown(b.Context())
				})
			}
			benchmarkTracedAuthorize(b)
		})
	}
}

func benchmarkTracedAuthorize(b *testing.B) {
	srv := testserver.Start(b, testserver.Backends[0].New(b), service.Config{})
	const agents = 100
	bodies := make([][]byte, agents)
	for i := range bodies {
		r := send(b, "POST", srv.URL+"/v1/agents", srv.RootKey, fmt.Sprintf(
			`{"ownerId":"o","name":"n%d","type":"service","permissions":[{"resource":"mcp:github:*","actions":["read"]},{"resource":"mcp:slack:*","actions":["post"],"constraints":{"rateLimit":{"max":1000000,"window":"1m"}}}]}`, i))
		var a struct{ ID string }
		if err := json.Unmarshal(r.body, &a); err != nil || a.ID == "" {
			b.Fatalf("create agent: %d %s", r.status, r.body)
		}
		bodies[i] = fmt.Appendf(nil, `{"agentId":%q,"action":"read","resource":"mcp:github:repo-%d","arguments":{"limit":%d}}`, a.ID, i%7, i%3)
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	call := func(body []byte) {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/authorize", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.RootKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("authorize: %d", resp.StatusCode)
		}
	}
	for i := range 2 * agents {
		call(bodies[i%agents])
	}
	var h latency.Histogram
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		call(bodies[i%agents])
		h.Record(time.Since(start))
	}
	b.ReportMetric(float64(h.Quantile(0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(h.Quantile(0.99).Microseconds()), "p99-µs")
}
