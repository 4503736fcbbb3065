package faults

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// TestKill SIGKILLs `kavach serve` at random moments while clients ask for decisions and
// create and revoke agents, and restarts it on the same database, rounds times. Then:
//   - the server answered again within a bound after each restart;
//   - every acknowledged revocation is enforced;
//   - the ledger verifies;
//   - every acknowledged creation and revocation has its management event, and so does
//     every change the database holds (a change and its event commit together);
//   - in sync mode every acknowledged decision is in the ledger with the code answered. In
//     async mode, the default, the decisions acknowledged in the last moments before the
//     kill may be lost: they are counted and reported, not asserted.
func TestKill(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, m := range modes {
			t.Run(backend+"/"+m.name, func(t *testing.T) {
				dir := t.TempDir()
				database := "sqlite://" + filepath.Join(dir, "kavach.db")
				if backend == "postgres" {
					database = pgtest.URL(t)
				}
				killRounds(t, newServer(t, "kavach", dir, database, newKey(), m.flags...), m.name == "sync")
			})
		}
	}
}

func killRounds(t *testing.T, s *server, sync bool) {
	rnd := random(t)
	s.start()
	targets := setupTargets(t, s)
	rec, ch := &record{}, &changes{}
	var slowest time.Duration
	for range rounds {
		d := ask(s, rec, targets, 3)
		c := churn(s, rec, ch, 2)
		time.Sleep(time.Duration(200+rnd.IntN(1300)) * time.Millisecond)
		s.kill()
		d.stop()
		c.stop()
		start := time.Now()
		s.start()
		if !waitCode(t, s, rec, targets[0].agentID, api.Allowed, "after a restart") {
			break
		}
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("%d kills; slowest from restart to an answered decision: %v", rounds, slowest.Round(time.Millisecond))

	for _, id := range ch.revoked {
		if a := decide(context.Background(), s, rec, target{id, "read", "mcp:github:repos"}); a.err != nil || a.code != api.AgentRevoked {
			t.Errorf("agent %s, revoked with an acknowledgment, is answered %s (%v)", id, a.code, a.err)
		}
	}
	s.stop()
	l := readLedger(t, s.dir, s.database)
	report(t, "decisions", checkDecisions(t, l, rec.snapshot(), sync))
	verify(t, s.dir, s.database)
	checkChanges(t, l, ch, storedAgents(t, s.dir, s.database))
}

// checkChanges fails the test if an acknowledged creation or revocation, or one the
// database holds, has no management event in the ledger.
func checkChanges(t *testing.T, l *ledger, ch *changes, stored []agent.Agent) {
	t.Helper()
	var noCreate, noRevoke, unrecorded []string
	for _, id := range ch.created {
		if !l.creates[id] {
			noCreate = append(noCreate, id)
		}
	}
	for _, id := range ch.revoked {
		if !l.revokes[id] {
			noRevoke = append(noRevoke, id)
		}
	}
	for _, a := range stored {
		if !l.creates[a.ID] {
			unrecorded = append(unrecorded, a.ID+" created")
		}
		if a.Status == agent.StatusRevoked && !l.revokes[a.ID] {
			unrecorded = append(unrecorded, a.ID+" revoked")
		}
	}
	report(t, "creates", tally{ch.createAttempts, len(ch.created), len(noCreate)})
	report(t, "revokes", tally{ch.revokeAttempts, len(ch.revoked), len(noRevoke)})
	if len(noCreate) > 0 || len(noRevoke) > 0 {
		t.Errorf("acknowledged changes without their management event: %d of %d creations %s, %d of %d revocations %s",
			len(noCreate), len(ch.created), first(noCreate, 3), len(noRevoke), len(ch.revoked), first(noRevoke, 3))
	}
	t.Logf("COUNTS %s changes-held-without-event=%d", t.Name(), len(unrecorded))
	if len(unrecorded) > 0 {
		t.Errorf("the database holds %d changes the ledger does not describe: %s", len(unrecorded), first(unrecorded, 5))
	}
}
