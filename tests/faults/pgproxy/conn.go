package pgproxy

import (
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// commitTimeout is how long the server's answer to a cut COMMIT is awaited before the
// connection is cut anyway.
const commitTimeout = 5 * time.Second

// conn is one proxied connection. The client side and the server side each run on their
// own goroutine; what one learns that the other needs is kept under mu.
type conn struct {
	p              *Proxy
	id             int
	client, server net.Conn
	closeOnce      sync.Once
	closed         atomic.Bool
	stalled        atomic.Bool

	mu        sync.Mutex
	txn       []string          // statements since the server last reported the session idle
	stmts     map[string]string // prepared statement name → SQL
	portals   map[string]string // portal name → SQL
	copyData  int               // CopyData messages forwarded in the current COPY
	commit    *pendingCommit    // a COMMIT whose answer is being withheld
	started   bool              // the server has sent its first ReadyForQuery
	requests  []request         // client requests awaiting their ReadyForQuery, in order
	execSQL   string            // a LISTEN executed since the last Sync
	listening string            // an acknowledged LISTEN
}

// request is a simple query, or extended-protocol messages up to a Sync: what the server
// answers with one ReadyForQuery.
type request struct {
	listen   string // the LISTEN it carries, if any
	listenOK bool   // the server answered the LISTEN with CommandComplete
	failed   bool   // the server answered with an error
}

// pendingCommit is a COMMIT the server has been sent and whose answer the client must not
// see.
type pendingCommit struct {
	fault *armed
	sql   []string
	reply string
	once  sync.Once
}

func (c *conn) run() {
	defer c.p.wg.Done()
	defer c.p.forget(c)
	defer c.close()
	server, err := net.DialTimeout("tcp", c.p.target, 5*time.Second)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.server = server
	c.mu.Unlock()
	if c.closed.Load() { // closed while dialling
		server.Close()
		return
	}
	if !c.startup() {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.close()
		c.fromServer()
	}()
	c.fromClient()
	c.close()
	<-done
}

// startup relays the untyped packets that open a connection. It reports false when the
// connection ended, or went on encrypted and was passed through untouched.
func (c *conn) startup() bool {
	for {
		pkt, code, err := readStartup(c.client)
		if err != nil {
			return false
		}
		if _, err := c.server.Write(pkt); err != nil {
			return false
		}
		switch code {
		case codeSSLRequest, codeGSSENCRequest:
			// The server answers with one unframed byte: 'N' (go on in clear, with a new
			// startup packet) or 'S'/'G' (encryption follows).
			var b [1]byte
			if _, err := io.ReadFull(c.server, b[:]); err != nil {
				return false
			}
			if _, err := c.client.Write(b[:]); err != nil {
				return false
			}
			if b[0] == 'N' {
				continue
			}
			passthrough(c.client, c.server)
			return false
		case codeCancelRequest:
			passthrough(c.client, c.server)
			return false
		}
		return true // a StartupMessage: typed messages follow both ways
	}
}

func (c *conn) fromClient() {
	for {
		m, err := readMessage(c.client)
		if err != nil {
			return
		}
		if c.stalled.Load() {
			continue
		}
		cut := c.clientMessage(m)
		if c.stalled.Load() {
			continue
		}
		err = c.forward(c.server, m)
		if cut != nil {
			cut()
		}
		if err != nil {
			return
		}
	}
}

func (c *conn) fromServer() {
	for {
		m, err := readMessage(c.server)
		if err != nil {
			return
		}
		if c.stalled.Load() {
			continue
		}
		pass, after := c.serverMessage(m)
		if pass && !c.stalled.Load() {
			if err := c.forward(c.client, m); err != nil {
				return
			}
		}
		if after != nil {
			after()
		}
	}
}

func (c *conn) forward(to net.Conn, m message) error {
	_, err := to.Write(m.raw)
	return err
}

// clientMessage notes what a client message means for the faults, before it is
// forwarded. It returns a cut to make once the message has been forwarded, if any.
func (c *conn) clientMessage(m message) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.typ {
	case 'Q': // simple query
		sql := first(m.body())
		c.txn = append(c.txn, sql)
		c.copyData = 0
		if isCommit(sql) {
			c.armCommit()
		}
		r := request{}
		if isListen(sql) {
			r.listen = sql
		}
		c.requests = append(c.requests, r)
	case 'P': // Parse: statement name, SQL
		if s := cstrings(m.body(), 2); len(s) == 2 {
			c.stmts[s[0]] = s[1]
		}
	case 'B': // Bind: portal name, statement name
		if s := cstrings(m.body(), 2); len(s) == 2 {
			sql := c.stmts[s[1]]
			c.portals[s[0]] = sql
			c.txn = append(c.txn, sql)
		}
	case 'E': // Execute: portal name
		if sql := c.portals[first(m.body())]; isCommit(sql) {
			c.armCommit()
		}
		if sql := c.portals[first(m.body())]; isListen(sql) {
			c.execSQL = sql
		}
	case 'S': // Sync
		c.requests = append(c.requests, request{listen: c.execSQL})
		c.execSQL = ""
	case 'd': // CopyData
		c.copyData++
		n := c.copyData
		sql := slices.Clone(c.txn)
		if a, ok := c.p.claim(CopyData, sql, func(a *armed) bool { return n == a.After }); ok {
			return func() { c.cut(a, Cut{SQL: sql, CopyData: n}) }
		}
	case 'c', 'f': // CopyDone, CopyFail
		c.copyData = 0
	}
	return nil
}

// armCommit marks the COMMIT about to be forwarded as one whose answer is withheld, if a
// Commit fault claims this transaction. Called with mu held.
func (c *conn) armCommit() {
	sql := slices.Clone(c.txn)
	a, ok := c.p.claim(Commit, sql, nil)
	if !ok {
		return
	}
	pc := &pendingCommit{fault: a, sql: sql}
	c.commit = pc
	time.AfterFunc(commitTimeout, func() { c.cutCommit(pc) })
}

func (c *conn) cutCommit(pc *pendingCommit) {
	pc.once.Do(func() {
		c.mu.Lock()
		reply := pc.reply
		c.mu.Unlock()
		c.cut(pc.fault, Cut{SQL: pc.sql, Reply: reply})
	})
}

// serverMessage notes what a server message means for the faults. It says whether to
// forward the message, and what to do after that.
func (c *conn) serverMessage(m message) (pass bool, after func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.typ {
	case 'C': // CommandComplete: the command tag
		tag := first(m.body())
		if c.commit != nil {
			c.commit.reply = tag
		}
		if len(c.requests) > 0 && tag == "LISTEN" {
			c.requests[0].listenOK = true
		}
	case 'E': // ErrorResponse
		if len(c.requests) > 0 {
			c.requests[0].failed = true
		}
	case 'Z': // ReadyForQuery: the session's transaction status
		var r request
		if !c.started {
			c.started = true // the end of the startup, not an answer
		} else if len(c.requests) > 0 {
			r, c.requests = c.requests[0], c.requests[1:]
		}
		if pc := c.commit; pc != nil {
			c.commit = nil
			return false, func() { c.cutCommit(pc) }
		}
		if b := m.body(); len(b) > 0 && b[0] == 'I' {
			c.txn = nil
		}
		if r.listen != "" && r.listenOK && !r.failed {
			// Counted before the client sees the acknowledgment, cut only after.
			c.listening = r.listen
			c.p.countListen()
			return true, func() { c.p.listened(c, r.listen) }
		}
	}
	return c.commit == nil, nil
}

func (c *conn) listeningSQL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listening
}

// cut ends the connection (or stalls it) for fault a and reports it.
func (c *conn) cut(a *armed, info Cut) {
	info.Conn, info.Point, info.At = c.id, a.Point, time.Now()
	if a.Stall {
		c.stalled.Store(true)
	} else {
		c.close()
	}
	c.p.deliver(a, info)
}

func (c *conn) isClosed() bool { return c.closed.Load() }

func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.client.Close()
		c.mu.Lock()
		server := c.server
		c.mu.Unlock()
		if server != nil {
			server.Close()
		}
	})
}
