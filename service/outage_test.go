package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// TestAuthorizeWithTheDatabaseUnreachable: with Postgres cut off, every POST /v1/authorize
// is still a decision — HTTP 200, and where the request cannot be judged, allowed false
// with ENGINE_ERROR — and the log names the cause rather than "internal error".
func TestAuthorizeWithTheDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	db := pgtest.URL(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newGate(t, u.Host)
	u.Host = proxy.addr()
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := testserver.Start(t, u.String(), service.Config{Logger: logger})
	defer proxy.open() // let the server close cleanly when the test ends

	ctx := kavach.WithActor(context.Background(), api.Root)
	app, err := srv.Kavach.APIKeys().Create(ctx, api.CreateAPIKeyRequest{Role: api.RoleApp})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"agentId":"agt_x","action":"read","resource":"mcp:x"}`
	// The root key is used once while the database answers, so that it is known in memory;
	// the app key is not, so that authenticating it needs the database.
	if resp := send(t, "POST", srv.URL+"/v1/authorize", srv.RootKey, body); resp.status != http.StatusOK {
		t.Fatalf("before the cut: %d %s", resp.status, resp.body)
	}
	proxy.shut()

	for _, key := range []string{app.Key, srv.RootKey} {
		resp := send(t, "POST", srv.URL+"/v1/authorize", key, body)
		if resp.status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", resp.status, resp.body)
		}
		var d api.Decision
		if resp.decode(t, &d); d.Allowed {
			t.Fatalf("allowed with the database unreachable: %s", resp.body)
		}
		if key == app.Key && d.Code != api.EngineError {
			t.Fatalf("a key that cannot be checked: %s, want ENGINE_ERROR", resp.body)
		}
	}
	// The log line says why: the store's own error, not just "internal error".
	var found bool
	for line := range strings.Lines(logs.String()) {
		var rec struct {
			Msg   string `json:"msg"`
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || !strings.Contains(rec.Msg, "failed closed") {
			continue
		}
		found = true
		t.Logf("logged: %s", line)
		if rec.Error == "" || rec.Error == "internal error" {
			t.Errorf("the log names no cause: %s", line)
		}
	}
	if !found {
		t.Fatalf("no log line for the failed decision:\n%s", logs.String())
	}
}

// gate forwards loopback TCP connections to a target until it is shut: then open
// connections are cut and new ones closed at once, as when the database is unreachable.
type gate struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newGate(t *testing.T, target string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); g.shut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.pipe(c)
		}
	}()
	return g
}

func (g *gate) addr() string { return g.ln.Addr().String() }

func (g *gate) pipe(c net.Conn) {
	g.mu.Lock()
	if g.down {
		g.mu.Unlock()
		c.Close()
		return
	}
	up, err := net.Dial("tcp", g.target)
	if err != nil {
		g.mu.Unlock()
		c.Close()
		return
	}
	g.conns = append(g.conns, c, up)
	g.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = true
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = false
}

// syncBuffer is a bytes.Buffer safe for a logger writing from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
