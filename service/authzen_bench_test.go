package service_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// BenchmarkAuthZENEvaluations times 100 evaluations against the real service over SQLite
// (API key, engine, asynchronous audit ledger) on loopback: as one POST
// /access/v1/evaluations, and as 100 POST /access/v1/evaluation on keep-alive connections
// (one connection, one request at a time; and four connections at once, 25 each). One op
// is the 100 evaluations: evals/s is the throughput, p50-op/p99-op the time for all 100,
// p50-req/p99-req the time of one HTTP request. The items mix allowed and denied calls:
// wildcard reads, reads with no permission, argument patterns passed and refused. B/op
// and allocs/op are the process's, client and server, per 100 evaluations.
func BenchmarkAuthZENEvaluations(b *testing.B) {
	srv := testserver.Start(b, testserver.Backends[0].New(b), service.Config{})
	ctx := kavach.WithActor(context.Background(), api.Root)
	a, err := srv.Kavach.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "o", Name: "bench", Permissions: []agent.Permission{
		{Resource: "doc:public:*", Actions: []string{"read"}},
		{Resource: "repo:kavach", Actions: []string{"push"}, Constraints: &agent.Constraints{ArgumentPatterns: map[string]string{"branch": "dev|staging"}}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	key := srv.Key(b, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant})
	subject := `"subject":{"type":"agent","id":"` + a.ID + `"}`
	items := make([]string, 100)
	singles := make([][]byte, 100)
	for i := range items {
		switch i % 4 {
		case 0:
			items[i] = fmt.Sprintf(`"action":{"name":"read"},"resource":{"type":"doc:public","id":"%d"}`, i)
		case 1:
			items[i] = fmt.Sprintf(`"action":{"name":"read"},"resource":{"type":"doc:secret","id":"%d"}`, i)
		case 2:
			items[i] = `"action":{"name":"push","properties":{"arguments":{"branch":"dev"}}},"resource":{"type":"repo","id":"kavach"}`
		case 3:
			items[i] = `"action":{"name":"push","properties":{"arguments":{"branch":"main"}}},"resource":{"type":"repo","id":"kavach"}`
		}
		singles[i] = rawRequest("/access/v1/evaluation", key, "{"+subject+","+items[i]+"}")
	}
	batch := rawRequest("/access/v1/evaluations", key, "{"+subject+`,"evaluations":[{`+strings.Join(items, "},{")+"}]}")
	addr := strings.TrimPrefix(srv.URL, "http://")

	b.Run("batch", func(b *testing.B) {
		c := dialBench(b, addr)
		var ops []time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			t0 := time.Now()
			c.do(b, batch, 100)
			ops = append(ops, time.Since(t0))
		}
		reportEvaluations(b, ops, ops)
	})
	b.Run("single", func(b *testing.B) {
		c := dialBench(b, addr)
		var ops, reqs []time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			t0 := time.Now()
			for _, r := range singles {
				t1 := time.Now()
				c.do(b, r, 1)
				reqs = append(reqs, time.Since(t1))
			}
			ops = append(ops, time.Since(t0))
		}
		reportEvaluations(b, ops, reqs)
	})
	b.Run("single-4conns", func(b *testing.B) {
		conns := make([]*benchConn, 4)
		for i := range conns {
			conns[i] = dialBench(b, addr)
		}
		var ops, reqs []time.Duration
		var mu sync.Mutex
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			t0 := time.Now()
			var wg sync.WaitGroup
			for i, c := range conns {
				wg.Go(func() {
					var mine []time.Duration
					for _, r := range singles[i*25 : (i+1)*25] {
						t1 := time.Now()
						c.do(b, r, 1)
						mine = append(mine, time.Since(t1))
					}
					mu.Lock()
					reqs = append(reqs, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			ops = append(ops, time.Since(t0))
		}
		reportEvaluations(b, ops, reqs)
	})
}

// benchConn is one keep-alive connection sending prepared requests.
type benchConn struct {
	conn net.Conn
	rd   *bufio.Reader
	body []byte
}

func dialBench(b *testing.B, addr string) *benchConn {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return &benchConn{conn: conn, rd: bufio.NewReaderSize(conn, 64<<10), body: make([]byte, 0, 64<<10)}
}

// do sends req and reads the answer, checking that it holds want decisions.
func (c *benchConn) do(b *testing.B, req []byte, want int) {
	if _, err := c.conn.Write(req); err != nil {
		b.Error(err)
		return
	}
	var err error
	if c.body, err = readResponse(c.rd, c.body[:0]); err != nil {
		b.Error(err)
		return
	}
	if n := bytes.Count(c.body, []byte(`"decision":`)); n != want {
		b.Errorf("%d decisions in the answer, want %d: %.300s", n, want, c.body)
	}
}

func reportEvaluations(b *testing.B, ops, reqs []time.Duration) {
	b.StopTimer()
	var total time.Duration
	for _, d := range ops {
		total += d
	}
	b.ReportMetric(float64(len(ops))*100/total.Seconds(), "evals/s")
	b.ReportMetric(percentile(ops, 0.50), "p50-op-µs")
	b.ReportMetric(percentile(ops, 0.99), "p99-op-µs")
	b.ReportMetric(percentile(reqs, 0.50), "p50-req-µs")
	b.ReportMetric(percentile(reqs, 0.99), "p99-req-µs")
}

// percentile returns the q-th percentile of ds in microseconds.
func percentile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))].Nanoseconds()) / 1e3
}
