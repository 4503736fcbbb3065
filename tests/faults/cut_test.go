package faults

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
	"github.com/kavachos/kavach-go/tests/faults/pgproxy"
)

// mode is how the server records decisions: committed before the answer (sync) or queued
// (async, the default).
type mode struct {
	name  string
	flags []string
}

var modes = []mode{{"sync", []string{"--audit-sync"}}, {"async", nil}}

// auditWrites matches the audit writer's transactions (they write into audit_events: a
// batch of 64 events or more by COPY, a smaller one by INSERT).
const auditWrites = "audit_events"

// pgScenario is a fresh Postgres schema, a proxy in front of the server, and a direct
// connection for reading what the database holds.
type pgScenario struct {
	t      *testing.T
	dir    string
	direct string // the schema's URL, straight to Postgres
	proxy  *pgproxy.Proxy
	db     *pgx.Conn
	key    string
}

func newPG(t *testing.T) *pgScenario {
	t.Helper()
	direct := pgtest.URL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := pgproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	db, err := pgx.Connect(context.Background(), direct)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return &pgScenario{t: t, dir: t.TempDir(), direct: direct, proxy: proxy, db: db, key: newKey()}
}

// server describes a server on the schema, through the proxy or straight to Postgres.
func (pg *pgScenario) server(name string, proxied bool, flags ...string) *server {
	database := pg.direct
	if proxied {
		var err error
		if database, err = pg.proxy.URL(pg.direct); err != nil {
			pg.t.Fatal(err)
		}
	}
	return newServer(pg.t, name, pg.dir, database, pg.key, flags...)
}

// cut arms f and waits for its first cut.
func (pg *pgScenario) cut(f pgproxy.Fault) pgproxy.Cut {
	pg.t.Helper()
	cuts := pg.proxy.Arm(f)
	select {
	case c, ok := <-cuts:
		if !ok {
			pg.t.Fatalf("%v fault retired without a cut", f.Point)
		}
		last := ""
		if len(c.SQL) > 0 {
			last = c.SQL[len(c.SQL)-1]
		}
		pg.t.Logf("cut connection %d at %v after %d statements, the last %.40q (server answered %q, %d CopyData)",
			c.Conn, c.Point, len(c.SQL), last, c.Reply, c.CopyData)
		return c
	case <-time.After(answerBound):
		pg.t.Fatalf("no %v cut within %v", f.Point, answerBound)
	}
	return pgproxy.Cut{}
}

// waitLedger waits until the ledger holds n decisions: the writer works before a fault.
func (pg *pgScenario) waitLedger(n int) {
	pg.t.Helper()
	deadline := time.Now().Add(answerBound)
	for {
		var have int
		if err := pg.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE kind = 'decision'`).Scan(&have); err != nil {
			pg.t.Fatal(err)
		}
		if have >= n {
			return
		}
		if time.Now().After(deadline) {
			pg.t.Fatalf("only %d decisions in the ledger %v before any fault", have, answerBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// committed returns which of ids the ledger holds.
func (pg *pgScenario) committed(ids []string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := pg.db.Query(ctx, `SELECT id FROM audit_events WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := map[string]bool{}
	for _, id := range found {
		out[id] = true
	}
	return out, err
}

// waitRecovered fails the test unless, within answerBound of since, a decision asked
// after since was answered (not ENGINE_ERROR) and its event committed to the ledger. It
// reports whether that happened.
func (pg *pgScenario) waitRecovered(rec *record, since time.Time) bool {
	t := pg.t
	t.Helper()
	deadline := since.Add(answerBound)
	for {
		var asked []answer
		codes := map[api.DecisionCode]int{}
		for _, a := range rec.snapshot() {
			if !a.sent.After(since) || a.err != nil {
				continue
			}
			codes[a.code]++
			if a.acknowledged() && a.code != api.EngineError && len(asked) < 200 {
				asked = append(asked, a)
			}
		}
		if len(asked) > 0 {
			ids := make([]string, len(asked))
			for i, a := range asked {
				ids[i] = a.id
			}
			found, err := pg.committed(ids)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range asked { // oldest first
				if found[a.id] {
					t.Logf("a decision asked %v after the fault was answered %v after it, and is in the ledger",
						a.sent.Sub(since).Round(time.Millisecond), a.at.Sub(since).Round(time.Millisecond))
					return true
				}
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("not answering again %v after the fault: decisions asked since, by code: %v; %d answered with an auditId, none of them in the ledger",
				answerBound, codes, len(asked))
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// underCut runs one server through the proxy under decision load, cuts an audit write
// with f (rounds times, once the server has recovered from the previous cut), and checks
// the invariants.
func underCut(t *testing.T, m mode, f pgproxy.Fault) {
	underCutWith(t, m, f, 4)
}

// underCutWith is underCut with askers callers asking at once and any further flags.
func underCutWith(t *testing.T, m mode, f pgproxy.Fault, askers int, flags ...string) {
	pg := newPG(t)
	s := pg.server("kavach", true, append(slices.Clone(m.flags), flags...)...)
	s.start()
	rec := &record{}
	targets := setupTargets(t, s)
	probes := probeReadiness(s.url)
	w := ask(s, rec, targets, askers)
	pg.waitLedger(50)
	for range rounds {
		if cut := pg.cut(f); !pg.waitRecovered(rec, cut.At) {
			break
		}
	}
	time.Sleep(500 * time.Millisecond)
	w.stop()
	checkReadiness(t, rec.snapshot(), probes.finish())
	s.stop()
	l := readLedger(t, pg.dir, pg.direct)
	report(t, "decisions", checkDecisions(t, l, rec.snapshot(), true))
	verify(t, pg.dir, pg.direct)
}

// TestCommitCut cuts the audit writer's connection after its COMMIT reached Postgres and
// before the answer came back: the events are committed, and the writer cannot know.
func TestCommitCut(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			underCut(t, m, pgproxy.Fault{Point: pgproxy.Commit, Match: auditWrites})
		})
	}
}

// TestCopyCut cuts the audit writer's connection in the middle of its COPY: the
// transaction is rolled back and must be written again. The writer uses COPY for batches
// of 64 events or more, so 96 callers ask at once and the writer waits up to 20 ms to
// fill a batch.
func TestCopyCut(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			underCutWith(t, m, pgproxy.Fault{Point: pgproxy.CopyData, Match: auditWrites}, 96, "--audit-batch-wait", "20ms")
		})
	}
}

// TestLedgerOutage cuts every audit write for a while: the ledger cannot be written
// although the database answers everything else. If decisions fail closed throughout,
// /readyz must say so; afterwards the service must recover.
func TestLedgerOutage(t *testing.T) {
	t.Parallel() // mostly waiting: overlaps the other waiting scenarios
	const outage = 8 * time.Second
	pg := newPG(t)
	s := pg.server("kavach", true, "--audit-sync")
	s.start()
	rec := &record{}
	targets := setupTargets(t, s)
	probes := probeReadiness(s.url)
	w := ask(s, rec, targets, 4)
	pg.waitLedger(50)
	cuts := pg.proxy.Arm(pgproxy.Fault{Point: pgproxy.CopyData, Match: auditWrites, Times: -1})
	time.Sleep(outage)
	pg.proxy.Disarm()
	n := 0
	for range cuts {
		n++
	}
	end := time.Now()
	t.Logf("%d audit writes cut in %v", n, outage)
	pg.waitRecovered(rec, end)
	time.Sleep(500 * time.Millisecond)
	w.stop()
	ps := probes.finish()
	checkReadiness(t, rec.snapshot(), ps)
	readyAgain := false
	for _, p := range ps {
		if p.at.After(end) && p.at.Before(end.Add(answerBound)) && p.status == 200 {
			readyAgain = true
		}
	}
	if !readyAgain {
		t.Errorf("/readyz not 200 again within %v of the outage's end", answerBound)
	}
	s.stop()
	l := readLedger(t, pg.dir, pg.direct)
	report(t, "decisions", checkDecisions(t, l, rec.snapshot(), true))
	verify(t, pg.dir, pg.direct)
}
