package kavach_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// cutProxy forwards loopback TCP connections to a target until it is cut; cut connections
// are closed and new ones refused until it is restored. It stands for a network partition
// between one instance and Postgres.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *cutProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// TestLostDatabaseFailsClosedAfterStaleness: an instance cut off from Postgres keeps
// deciding from its compiled state for the staleness bound, then fails closed and is not
// ready; once the database is back it resyncs and decides on the current state — here, an
// agent revoked through another instance while it was cut off.
func TestLostDatabaseFailsClosedAfterStaleness(t *testing.T) {
	direct := pgtest.URL(t)
	u, _ := url.Parse(direct)
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	open := func(db string) *kavach.Kavach {
		k, err := kavach.Open(context.Background(), kavach.Config{Database: db, Staleness: 300 * time.Millisecond,
			Audit: kavach.AuditConfig{SigningKey: testAuditKey}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		return k
	}
	a, b := open(direct), open(u.String())
	waitUntilSynced(t, a)
	waitUntilSynced(t, b)
	x, err := a.Agents().Create(root, api.CreateAgentRequest{OwnerID: "o", Name: "x",
		Permissions: []agent.Permission{{Resource: "mcp:*", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	// A dry run touches no database: it shows what B's compiled state says.
	check := func() *api.Decision {
		d, err := b.Authorize(root, x.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:x:y", DryRun: true}, api.CallContext{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	propagation(t, check, func(d *api.Decision) bool { return d.Allowed })

	proxy.cut()
	lostBy := time.Now().Add(10 * time.Second)
	for synced, _, _, _ := b.FeedStatus(); synced; synced, _, _, _ = b.FeedStatus() {
		if time.Now().After(lostBy) {
			t.Fatal("the cut was never noticed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := a.Agents().Revoke(root, x.ID); err != nil {
		t.Fatal(err)
	}
	// After the staleness bound B neither allows nor claims to be ready.
	time.Sleep(350 * time.Millisecond)
	if d := check(); d.Allowed || d.Code != api.EngineError {
		t.Fatalf("past the staleness bound: %+v", d)
	}
	if err := b.Ready(context.Background()); err == nil {
		t.Fatal("ready while cut off from the database")
	}

	proxy.restore()
	propagation(t, check, func(d *api.Decision) bool { return d.Code == api.AgentRevoked })
	// Ready again once every part is: the feed has resynced, and the audit writer, which
	// failed while the database was away, commits again on its next retry.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		err := b.Ready(context.Background())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready 10s after the database came back: %v", err)
		}
	}
	if _, _, resyncs, _ := b.FeedStatus(); resyncs < 2 {
		t.Fatalf("%d resyncs: the reconnect must reload everything", resyncs)
	}
}
