package pgproxy

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// setup returns a proxy in front of the test server, and a direct and a proxied URL of a
// fresh schema.
func setup(t *testing.T) (p *Proxy, direct, proxied string) {
	t.Helper()
	direct = pgtest.URL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	p, err = Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if proxied, err = p.URL(direct); err != nil {
		t.Fatal(err)
	}
	return p, direct, proxied
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func exec(t *testing.T, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t *testing.T, c *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// cutOf waits for the fault's report.
func cutOf(t *testing.T, cuts <-chan Cut) Cut {
	t.Helper()
	select {
	case c, ok := <-cuts:
		if !ok {
			t.Fatal("the fault was retired without cutting")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no cut within 10s")
	}
	return Cut{}
}

var ctx = context.Background()

func TestForwardsBothProtocols(t *testing.T) {
	p, _, proxied := setup(t)
	c := connect(t, proxied)
	exec(t, c, `CREATE TABLE items (id int PRIMARY KEY, name text)`)
	for i := range 20 { // extended protocol, cached statements
		exec(t, c, `INSERT INTO items VALUES ($1, $2)`, i, "item")
	}
	if n := count(t, c, `SELECT count(*) FROM items WHERE name = $1`, "item"); n != 20 {
		t.Fatalf("count = %d", n)
	}
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "name"},
		pgx.CopyFromSlice(100, func(i int) ([]any, error) { return []any{100 + i, "copied"}, nil })); err != nil {
		t.Fatal(err)
	}
	if n := count(t, c, `SELECT count(*) FROM items`); n != 120 {
		t.Fatalf("count = %d", n)
	}
	if p.Listens() != 0 {
		t.Fatalf("listens = %d", p.Listens())
	}
}

// TestStartupRequests covers the untyped packets before StartupMessage. A refused
// SSLRequest ('N', then a StartupMessage in clear) needs a server that refuses it, so a
// minimal one plays that part; the real server, which accepts TLS here, is then passed
// through encrypted.
func TestStartupRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go refusingServer(ln)
	p, err := Start(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	raw, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	var req [8]byte
	binary.BigEndian.PutUint32(req[:4], 8)
	binary.BigEndian.PutUint32(req[4:], codeSSLRequest)
	if _, err := raw.Write(req[:]); err != nil {
		t.Fatal(err)
	}
	var answer [1]byte
	if _, err := io.ReadFull(raw, answer[:]); err != nil || answer[0] != 'N' {
		t.Fatalf("SSLRequest answer %q, %v", answer[0], err)
	}
	fe := pgproto3.NewFrontend(raw, raw)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": "u", "database": "d"}})
	fe.Send(&pgproto3.Query{String: "LISTEN ch"})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var tags []string
	for ready := 0; ready < 2; {
		m, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case *pgproto3.CommandComplete:
			tags = append(tags, string(m.CommandTag))
		case *pgproto3.ReadyForQuery:
			ready++
		}
	}
	if len(tags) != 1 || tags[0] != "LISTEN" || p.Listens() != 1 {
		t.Fatalf("tags %q, listens %d", tags, p.Listens())
	}

	rp, direct, _ := setup(t)
	u, _ := url.Parse(direct)
	q := u.Query()
	q.Set("sslmode", "prefer")
	u.RawQuery = q.Encode()
	prefer, _ := rp.URL(u.String())
	c := connect(t, prefer)
	if n := count(t, c, `SELECT 7`); n != 7 {
		t.Fatalf("over sslmode=prefer: %d", n)
	}
}

// refusingServer answers one connection: it refuses TLS, accepts the startup, and
// acknowledges one query as a LISTEN.
func refusingServer(ln net.Listener) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	be := pgproto3.NewBackend(c, c)
	m, err := be.ReceiveStartupMessage()
	if _, ok := m.(*pgproto3.SSLRequest); err != nil || !ok {
		return
	}
	if _, err := c.Write([]byte{'N'}); err != nil {
		return
	}
	if m, err = be.ReceiveStartupMessage(); err != nil {
		return
	}
	if _, ok := m.(*pgproto3.StartupMessage); !ok {
		return
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	be.Flush()
	if _, err := be.Receive(); err != nil {
		return
	}
	be.Send(&pgproto3.CommandComplete{CommandTag: []byte("LISTEN")})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	be.Flush()
	be.Receive() // until the client goes
}

func TestCommitCutAfterTheServerCommitted(t *testing.T) {
	p, direct, proxied := setup(t)
	d := connect(t, direct)
	exec(t, d, `CREATE TABLE ledger (note text)`)
	cuts := p.Arm(Fault{Point: Commit, Match: "marked"})

	c := connect(t, proxied)
	if err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO ledger VALUES ('plain')`)
		return err
	}); err != nil {
		t.Fatalf("a transaction the fault does not match: %v", err)
	}
	err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO ledger VALUES ('marked')`)
		return err
	})
	if err == nil {
		t.Fatal("the matching COMMIT was answered")
	}
	cut := cutOf(t, cuts)
	if cut.Point != Commit || cut.Reply != "COMMIT" || len(cut.SQL) != 3 || !isCommit(cut.SQL[2]) {
		t.Fatalf("cut %+v", cut)
	}
	if !c.IsClosed() {
		t.Fatal("the client connection is still open")
	}
	if n := count(t, d, `SELECT count(*) FROM ledger`); n != 2 {
		t.Fatalf("%d rows: the cut COMMIT did not commit", n)
	}
	if _, ok := <-cuts; ok {
		t.Fatal("the fault cut twice with Times 1")
	}
}

func TestCommitCutExtendedProtocol(t *testing.T) {
	p, direct, proxied := setup(t)
	d := connect(t, direct)
	exec(t, d, `CREATE TABLE ledger (note text)`)
	cuts := p.Arm(Fault{Point: Commit, Match: "ledger"})
	c := connect(t, proxied)
	pc := c.PgConn()
	if _, err := pc.Exec(ctx, `BEGIN; INSERT INTO ledger VALUES ('x')`).ReadAll(); err != nil {
		t.Fatal(err)
	}
	// Parse, Bind, Describe, Execute and Sync of a COMMIT.
	if _, err := pc.ExecParams(ctx, "COMMIT", nil, nil, nil, nil).Close(); err == nil {
		t.Fatal("the COMMIT was answered")
	}
	if cut := cutOf(t, cuts); cut.Reply != "COMMIT" {
		t.Fatalf("cut %+v", cut)
	}
	if n := count(t, d, `SELECT count(*) FROM ledger`); n != 1 {
		t.Fatalf("%d rows after the cut COMMIT", n)
	}
}

func TestCopyCutMidway(t *testing.T) {
	p, direct, proxied := setup(t)
	d := connect(t, direct)
	exec(t, d, `CREATE TABLE small (n int)`)
	exec(t, d, `CREATE TABLE bulk (n int, pad text)`)
	cuts := p.Arm(Fault{Point: CopyData, Match: "bulk", After: 3})
	c := connect(t, proxied)
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"small"}, []string{"n"},
		pgx.CopyFromSlice(10, func(i int) ([]any, error) { return []any{i}, nil })); err != nil {
		t.Fatalf("a COPY the fault does not match: %v", err)
	}
	pad := strings.Repeat("p", 200)
	const rows = 20_000 // about 4 MB: many CopyData messages
	_, err := c.CopyFrom(ctx, pgx.Identifier{"bulk"}, []string{"n", "pad"},
		pgx.CopyFromSlice(rows, func(i int) ([]any, error) { return []any{i, pad}, nil }))
	if err == nil {
		t.Fatal("the cut COPY succeeded")
	}
	if cut := cutOf(t, cuts); cut.CopyData != 3 || !strings.Contains(strings.Join(cut.SQL, " "), `"bulk"`) {
		t.Fatalf("cut %+v", cut)
	}
	if n := count(t, d, `SELECT count(*) FROM bulk`); n != 0 {
		t.Fatalf("%d rows of a cut COPY were committed", n)
	}
	if n := count(t, d, `SELECT count(*) FROM small`); n != 10 {
		t.Fatalf("small: %d rows", n)
	}
}

func TestListeningCut(t *testing.T) {
	p, _, proxied := setup(t)
	early := connect(t, proxied)
	exec(t, early, `LISTEN faults_early`)
	other := connect(t, proxied)
	exec(t, other, `LISTEN unrelated`)
	if p.Listens() != 2 {
		t.Fatalf("listens = %d", p.Listens())
	}
	// Armed after the LISTEN: applies to the connection already waiting.
	cuts := p.Arm(Fault{Point: Listening, Match: "faults_"})
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := early.WaitForNotification(wctx)
	cancel()
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting on a cut connection: %v", err)
	}
	if cut := cutOf(t, cuts); cut.SQL[0] != "LISTEN faults_early" {
		t.Fatalf("cut %+v", cut)
	}

	// Armed before the LISTEN: cuts it once acknowledged, after the delay.
	cuts = p.Arm(Fault{Point: Listening, Match: "faults_", Delay: 200 * time.Millisecond})
	late := connect(t, proxied)
	start := time.Now()
	exec(t, late, `LISTEN faults_late`)
	wctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	_, err = late.WaitForNotification(wctx)
	cancel()
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting on a cut connection: %v", err)
	}
	if cut := cutOf(t, cuts); cut.At.Sub(start) < 200*time.Millisecond {
		t.Fatalf("cut after %s, before the delay", cut.At.Sub(start))
	}
	if n := count(t, other, `SELECT 1`); n != 1 || other.IsClosed() {
		t.Fatal("a connection the fault does not match was cut")
	}
}

func TestListeningStall(t *testing.T) {
	p, direct, proxied := setup(t)
	c := connect(t, proxied)
	exec(t, c, `LISTEN faults_stall`)
	cuts := p.Arm(Fault{Point: Listening, Stall: true})
	cutOf(t, cuts)
	exec(t, connect(t, direct), `NOTIFY faults_stall, 'lost'`)
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	n, err := c.WaitForNotification(wctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a stalled connection delivered %v, %v", n, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = c.Ping(pctx)
	cancel()
	if err == nil {
		t.Fatal("a stalled connection answered a ping")
	}
}

func TestTimesAndDisarm(t *testing.T) {
	p, direct, proxied := setup(t)
	exec(t, connect(t, direct), `CREATE TABLE ledger (note text)`)
	insert := func() error {
		c, err := pgx.Connect(ctx, proxied)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO ledger VALUES ('x')`)
			return err
		})
	}
	cuts := p.Arm(Fault{Point: Commit, Times: 2})
	for i := range 3 {
		if err := insert(); (err != nil) != (i < 2) {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	for range 2 {
		cutOf(t, cuts)
	}
	if _, ok := <-cuts; ok {
		t.Fatal("more than two cuts")
	}
	cuts = p.Arm(Fault{Point: Commit, Times: -1})
	if err := insert(); err == nil {
		t.Fatal("an unlimited fault let a commit through")
	}
	p.Disarm()
	if err := insert(); err != nil {
		t.Fatalf("after Disarm: %v", err)
	}
	cutOf(t, cuts)
	if _, ok := <-cuts; ok {
		t.Fatal("Disarm left the channel open")
	}
}
