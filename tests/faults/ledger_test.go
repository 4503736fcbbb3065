package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// ledger is the default tenant's audit ledger as `kavach audit export` reads it.
type ledger struct {
	events  map[string]agent.AuditEvent // by id
	creates map[string]bool             // agent ids with an agent.create event
	revokes map[string]bool             // agent ids with an agent.revoke event
}

func readLedger(t *testing.T, dir, database string) *ledger {
	t.Helper()
	out, err := cli(t, dir, database, "audit", "export", "--format", "ndjson")
	if err != nil {
		t.Fatal(err)
	}
	l := &ledger{events: map[string]agent.AuditEvent{}, creates: map[string]bool{}, revokes: map[string]bool{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e agent.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export: %v: %s", err, sc.Text())
		}
		l.events[e.ID] = e
		if e.Kind == "management" {
			switch e.Action {
			case "agent.create":
				l.creates[e.AgentID] = true
			case "agent.revoke":
				l.revokes[e.AgentID] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return l
}

// verify runs `kavach audit verify` and fails the test unless the chains verify.
func verify(t *testing.T, dir, database string) {
	t.Helper()
	out, err := cli(t, dir, database, "audit", "verify", "-o", "json")
	var r api.AuditReport
	if jerr := json.Unmarshal([]byte(out), &r); jerr != nil || err != nil || !r.OK {
		t.Errorf("kavach audit verify: %v\n%s", err, out)
		return
	}
	t.Logf("kavach audit verify: ok, %d events", r.Checked)
}

// storedAgents lists the default tenant's agents as the database holds them.
func storedAgents(t *testing.T, dir, database string) []agent.Agent {
	t.Helper()
	out, err := cli(t, dir, database, "agent", "list", "--all", "--limit", "1000", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list api.AgentList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("agent list: %v", err)
	}
	return list.Agents
}

// tally is what a scenario counts: decisions asked, acknowledged (answered with an
// auditId), and acknowledged but not in the ledger with the code answered.
type tally struct {
	attempts, acknowledged, lost int
}

func (c tally) String() string {
	return fmt.Sprintf("attempts=%d acknowledged=%d lost=%d", c.attempts, c.acknowledged, c.lost)
}

// checkDecisions counts the answers against the ledger. With keep, every acknowledged
// decision must be in the ledger with the code it was answered with.
func checkDecisions(t *testing.T, l *ledger, answers []answer, keep bool) tally {
	t.Helper()
	var c tally
	var missing, changed []string
	for _, a := range answers {
		c.attempts++
		if !a.acknowledged() {
			continue
		}
		c.acknowledged++
		e, ok := l.events[a.id]
		switch {
		case !ok:
			c.lost++
			missing = append(missing, fmt.Sprintf("%s (%s, answered %s)", a.id, a.code, a.at.Format("15:04:05.000")))
		case e.Code != string(a.code) || e.Kind != "decision":
			c.lost++
			changed = append(changed, fmt.Sprintf("%s answered %s, ledger has %s %s", a.id, a.code, e.Kind, e.Code))
		}
	}
	if keep && c.lost > 0 {
		t.Errorf("%d of %d acknowledged decisions are not in the ledger as answered: %d missing %s, %d with another code %s",
			c.lost, c.acknowledged, len(missing), first(missing, 3), len(changed), first(changed, 3))
	}
	return c
}

func first(s []string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("%v…", s[:n])
	}
	return fmt.Sprint(s)
}

// report logs a scenario's counts in one greppable line.
func report(t *testing.T, what string, c tally) {
	t.Logf("COUNTS %s %s %s", t.Name(), what, c)
}
