package service_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/lifecycle"
	"github.com/kavachos/kavach-go/service"
)

// layerFacade answers authorize calls with a fixed decision at no cost, so that a
// benchmark over it times the HTTP layer alone: connection handling, routing, middleware,
// authentication of the key (not its lookup), binding, metrics and encoding. Any other
// call panics on the nil api.Kavach.
type layerFacade struct {
	api.Kavach
	decision api.Decision
}

func (f *layerFacade) AuthenticateAPIKey(context.Context, string) (api.Actor, error) {
	return api.Actor{TenantID: "default", Role: api.RoleApp}, nil
}

func (f *layerFacade) Ready(context.Context) error { return nil }

func (f *layerFacade) Parts() map[string]lifecycle.Status { return nil }

func (f *layerFacade) Authorize(context.Context, string, api.AuthorizeRequest, api.CallContext) (*api.Decision, error) {
	d := f.decision
	return &d, nil
}

func (f *layerFacade) AuthorizeToken(context.Context, string, api.AuthorizeRequest, api.CallContext) (*api.Decision, error) {
	d := f.decision
	return &d, nil
}

var benchDecision = api.Decision{Allowed: true, Code: api.Allowed, Reason: "granted by mcp:github:*",
	AuditID: "0193a5f2-7c1e-7b3a-9d2e-4f5a6b7c8d9e", Grant: "mcp:github:*"}

const (
	benchKey   = "kva_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
	benchToken = "kv_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO"
	benchBody  = `{"agentId":"agt_01JH3Z8Q2W5X7Y9A","action":"read","resource":"mcp:github:repos",` +
		`"arguments":{"repo":"kavachos/kavach-go","limit":20},"context":{"ip":"203.0.113.7","userAgent":"bench/1"}}`
	benchTokenBody = `{"action":"read","resource":"mcp:github:repos","arguments":{"repo":"kavachos/kavach-go","limit":20}}`
)

// BenchmarkHTTPLayer times one authorize request at a time over a loopback connection,
// against the service over a facade that costs nothing (layerFacade). "floor" is a bare
// net/http server answering a decision of the same size from a handler that does nothing
// else; the service's own cost is the difference. cpu-ns/op is the CPU the process (client
// and server) spent per request, steadier than the round trip's wall time. The client writes a prepared request
// and reads the answer without allocating, so B/op and allocs/op are the server's.
func BenchmarkHTTPLayer(b *testing.B) {
	b.Run("floor", func(b *testing.B) {
		answer := []byte(mustJSON(benchDecision) + "\n")
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(answer)
		})
		addr := listen(b, func(ln net.Listener) error { return (&http.Server{Handler: h}).Serve(ln) })
		benchRequests(b, addr, rawRequest("/v1/authorize", benchKey, benchBody))
	})
	b.Run("authorize", func(b *testing.B) {
		benchRequests(b, serveLayer(b), rawRequest("/v1/authorize", benchKey, benchBody))
	})
	b.Run("authorize-token", func(b *testing.B) {
		benchRequests(b, serveLayer(b), rawRequest("/v1/authorize/token", benchToken, benchTokenBody))
	})
}

func serveLayer(b *testing.B) string {
	srv, err := service.New(&layerFacade{decision: benchDecision}, service.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return listen(b, func(ln net.Listener) error { return srv.Serve(ctx, ln) })
}

// listen serves on a loopback port until the benchmark ends and returns its address.
func listen(b *testing.B, serve func(net.Listener) error) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() { _ = serve(ln) }()
	return ln.Addr().String()
}

func rawRequest(path, bearer, body string) []byte {
	return []byte("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench/1\r\n" +
		"Content-Type: application/json\r\nAuthorization: Bearer " + bearer + "\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// benchRequests sends req over one keep-alive connection b.N times, checking each answer.
func benchRequests(b *testing.B, addr string, req []byte) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReaderSize(conn, 16<<10)
	body := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if body, err = readResponse(rd, body[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if !bytes.Contains(body, []byte(`"allowed":true`)) {
		b.Fatalf("unexpected answer %s", body)
	}
}

// readResponse reads one HTTP/1.1 answer with a Content-Length and appends its body to buf.
func readResponse(rd *bufio.Reader, buf []byte) ([]byte, error) {
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return buf, err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return buf, errors.New("status line " + string(line))
	}
	n := -1
	for {
		line, err = rd.ReadSlice('\n')
		if err != nil {
			return buf, err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return buf, errors.New("no Content-Length")
	}
	buf = buf[:n]
	_, err = io.ReadFull(rd, buf)
	return buf, err
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
