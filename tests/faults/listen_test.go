package faults

import (
	"context"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/tests/faults/pgproxy"
)

// changeFeed matches the LISTEN of a server's change feed.
const changeFeed = "kavach_changes"

// TestListenCut runs two servers on one schema, A through the proxy and B straight to
// Postgres, and takes away A's change feed while it waits for notifications: the
// connection is cut, or stalls as a silent partition would. A revocation acknowledged by
// B right after that, and another once A listens again, must both be enforced by A within
// a bound; A's decisions must stay in its ledger.
func TestListenCut(t *testing.T) {
	t.Parallel() // mostly waiting for A to notice: overlaps the other waiting scenarios
	for _, c := range []struct {
		name  string
		stall bool
	}{{"cut", false}, {"stall", true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pg := newPG(t)
			a := pg.server("a", true)
			a.start()
			b := pg.server("b", false)
			b.start()
			rec := &record{}
			targets := setupTargets(t, a)
			w := ask(a, rec, targets, 3)
			pg.waitLedger(50)
			for range rounds {
				if !listenRound(t, pg, a, b, rec, c.stall) {
					break
				}
			}
			w.stop()
			b.stop()
			a.stop()
			l := readLedger(t, pg.dir, pg.direct)
			report(t, "decisions", checkDecisions(t, l, rec.snapshot(), true))
			verify(t, pg.dir, pg.direct)
		})
	}
}

// listenRound takes A's change feed away once and checks that revocations through B
// reach A, and that A keeps answering. It reports whether all went well.
func listenRound(t *testing.T, pg *pgScenario, a, b *server, rec *record, stall bool) bool {
	t.Helper()
	x1, x2 := createReader(t, b), createReader(t, b)
	for _, x := range []string{x1, x2} {
		if !waitCode(t, a, rec, x, api.Allowed, "an agent created through B") {
			return false
		}
	}
	listens := pg.proxy.Listens()
	cut := pg.cut(pgproxy.Fault{Point: pgproxy.Listening, Match: changeFeed, Stall: stall})
	revoke(t, b, x1)
	if !waitCode(t, a, rec, x1, api.AgentRevoked, "an agent revoked through B just after A lost its feed") {
		return false
	}
	deadline := cut.At.Add(answerBound)
	for pg.proxy.Listens() == listens {
		if time.Now().After(deadline) {
			t.Errorf("A did not LISTEN again within %v of the fault", answerBound)
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("A listens again %v after the fault", time.Since(cut.At).Round(time.Millisecond))
	revoke(t, b, x2)
	return waitCode(t, a, rec, x2, api.AgentRevoked, "an agent revoked through B once A listened again") &&
		pg.waitRecovered(rec, cut.At)
}

// createReader creates an agent allowed to read mcp:github:* and returns its id.
func createReader(t *testing.T, s *server) string {
	t.Helper()
	a, err := s.api.Agents().Create(context.Background(), api.CreateAgentRequest{OwnerID: "owner", Name: "reader",
		Permissions: []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func revoke(t *testing.T, s *server, id string) {
	t.Helper()
	if _, err := s.api.Agents().Revoke(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

// waitCode asks s about agent id until the decision's code is want, for at most
// answerBound, and reports whether it came.
func waitCode(t *testing.T, s *server, rec *record, id string, want api.DecisionCode, what string) bool {
	t.Helper()
	start := time.Now()
	var got answer
	for time.Since(start) < answerBound {
		if got = decide(context.Background(), s, rec, target{id, "read", "mcp:github:repos"}); got.err == nil && got.code == want {
			t.Logf("%s: %s after %v", what, want, time.Since(start).Round(time.Millisecond))
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("%s: still %s (%v) after %v, want %s", what, got.code, got.err, answerBound, want)
	return false
}
