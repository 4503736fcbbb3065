// Package pgproxy is a loopback TCP proxy for the PostgreSQL wire protocol that cuts a
// client's connection at a chosen point of the protocol: just after a COMMIT reached the
// server and before its answer reaches the client, in the middle of a COPY, or while the
// client waits for notifications after a LISTEN. Fault-injection tests put it between a
// Kavach process and its database.
//
// Clients must connect without TLS (sslmode=disable): an encrypted session is passed
// through untouched, and no fault applies to it.
package pgproxy

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Point is where in the protocol a fault cuts a connection.
type Point int

const (
	// Commit: the client's COMMIT (a simple query, or the Execute of a prepared one) is
	// forwarded, the server's answer is withheld up to its ReadyForQuery, and then the
	// connection is cut. The server has committed (Cut.Reply says what it answered); the
	// client cannot know whether it did.
	Commit Point = iota + 1
	// CopyData: once the After-th CopyData message of a COPY FROM STDIN is forwarded, the
	// connection is cut before CopyDone, so the server rolls the transaction back.
	CopyData
	// Listening: once the server has acknowledged a LISTEN, while the client waits for
	// notifications, the connection is cut after Delay. Arming it also applies to
	// connections already listening.
	Listening
)

func (p Point) String() string {
	switch p {
	case Commit:
		return "commit"
	case CopyData:
		return "copy-data"
	case Listening:
		return "listening"
	}
	return fmt.Sprintf("point(%d)", int(p))
}

// Fault says which connections to cut, where, and how.
type Fault struct {
	Point Point
	// Match limits the fault to transactions (Commit, CopyData) or LISTEN statements
	// (Listening) whose SQL contains it, compared case-insensitively. Empty matches all.
	Match string
	// After is the CopyData message after which a COPY is cut (default 1).
	After int
	// Delay is how long a listening connection is left waiting before it is cut.
	Delay time.Duration
	// Stall leaves both sockets open but forwards nothing more in either direction, as a
	// silent network partition would, instead of closing them.
	Stall bool
	// Times is how many connections are cut before the fault disarms itself (default 1;
	// negative: every matching connection until Disarm).
	Times int
}

// Cut describes one connection cut by a fault.
type Cut struct {
	Conn  int // the connection's number, from 1 in order of acceptance
	Point Point
	At    time.Time
	// SQL holds the statements of the transaction that was cut, or the LISTEN.
	SQL []string
	// Reply is, for Commit, the command tag the server answered ("COMMIT", or "ROLLBACK"
	// for a failed transaction) that the client never saw; empty if none came in time.
	Reply string
	// CopyData is, for CopyData, how many CopyData messages of the COPY were forwarded.
	CopyData int
}

// Proxy forwards connections accepted on a loopback port to a PostgreSQL server. Lock
// order: a connection's mutex before the proxy's.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    map[*conn]struct{}
	accepted int
	listens  int
	fault    *armed
	closed   bool
}

// armed is a fault in force, with its cuts still to make and their reports.
type armed struct {
	Fault
	left      int // cuts still to make; negative: unlimited
	inflight  int // cuts claimed and not reported yet
	delivered int
	retired   bool // no more cuts will be claimed
	cuts      chan Cut
	done      bool // cuts is closed
}

// Start listens on a free loopback port and forwards to target (host:port).
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, conns: map[*conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns the postgres:// URL raw with its host and port replaced by the proxy's.
func (p *Proxy) URL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	u.Host = p.Addr()
	return u.String(), nil
}

// Listens counts the LISTEN statements the server has acknowledged through the proxy.
func (p *Proxy) Listens() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.listens
}

// Arm puts f in force, replacing any fault armed before. The channel receives a Cut for
// each connection cut; it is closed once f has made its Times cuts, or on Disarm or Close.
func (p *Proxy) Arm(f Fault) <-chan Cut {
	if f.Times == 0 {
		f.Times = 1
	}
	if f.After <= 0 {
		f.After = 1
	}
	size := f.Times
	if size < 0 {
		size = 1024 // further reports are dropped rather than block a connection
	}
	a := &armed{Fault: f, left: f.Times, cuts: make(chan Cut, size)}
	p.mu.Lock()
	p.disarmLocked()
	if p.closed {
		a.retire()
		p.mu.Unlock()
		return a.cuts
	}
	p.fault = a
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	if f.Point == Listening {
		for _, c := range conns {
			if sql := c.listeningSQL(); sql != "" && matches(f.Match, []string{sql}) {
				p.scheduleListenCut(c, a)
			}
		}
	}
	return a.cuts
}

// Disarm withdraws the fault in force, if any.
func (p *Proxy) Disarm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.disarmLocked()
}

func (p *Proxy) disarmLocked() {
	if p.fault != nil {
		p.fault.retire()
		p.fault = nil
	}
}

// retire stops the fault from claiming cuts; its channel closes once the cuts already
// claimed are reported.
func (a *armed) retire() {
	a.retired = true
	if a.inflight == 0 && !a.done {
		a.done = true
		close(a.cuts)
	}
}

// CloseConnections cuts every open connection at once, wherever it is in the protocol.
func (p *Proxy) CloseConnections() {
	p.mu.Lock()
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Close stops accepting, cuts every connection and waits for them to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.disarmLocked()
	p.mu.Unlock()
	err := p.ln.Close()
	p.CloseConnections()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			return
		}
		p.accepted++
		c := &conn{p: p, id: p.accepted, client: client, stmts: map[string]string{}, portals: map[string]string{}}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go c.run()
	}
}

// claim takes one cut of the fault in force if it is at point, matches sql and passes
// ready; it reports the fault to cut with.
func (p *Proxy) claim(point Point, sql []string, ready func(*armed) bool) (*armed, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.fault
	if a == nil || a.Point != point || a.left == 0 || !matches(a.Match, sql) || (ready != nil && !ready(a)) {
		return nil, false
	}
	if a.left > 0 {
		a.left--
	}
	a.inflight++
	return a, true
}

// deliver reports a cut, and retires the fault after its last one.
func (p *Proxy) deliver(a *armed, c Cut) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a.inflight--
	select {
	case a.cuts <- c:
	default:
	}
	a.delivered++
	if a.Times > 0 && a.delivered >= a.Times && p.fault == a {
		p.fault = nil
		a.retired = true
	}
	if a.retired {
		a.retire()
	}
}

func (p *Proxy) countListen() {
	p.mu.Lock()
	p.listens++
	p.mu.Unlock()
}

// listened schedules the cut of a connection whose LISTEN was acknowledged, if a
// Listening fault matches it.
func (p *Proxy) listened(c *conn, sql string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.fault; a != nil && a.Point == Listening && matches(a.Match, []string{sql}) {
		p.scheduleListenCut(c, a)
	}
}

func (p *Proxy) scheduleListenCut(c *conn, a *armed) {
	time.AfterFunc(a.Delay, func() {
		sql := c.listeningSQL()
		if sql == "" || c.isClosed() || c.stalled.Load() {
			return
		}
		if _, ok := p.claim(Listening, []string{sql}, func(x *armed) bool { return x == a }); ok {
			c.cut(a, Cut{SQL: []string{sql}})
		}
	})
}

func (p *Proxy) forget(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func matches(match string, sql []string) bool {
	if match == "" {
		return true
	}
	match = strings.ToLower(match)
	for _, s := range sql {
		if strings.Contains(strings.ToLower(s), match) {
			return true
		}
	}
	return false
}

// passthrough copies both ways until either side ends.
func passthrough(a, b net.Conn) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(a, b); done <- struct{}{} }()
	go func() { io.Copy(b, a); done <- struct{}{} }()
	<-done
	a.Close()
	b.Close()
	<-done
}
