package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
	"github.com/kavachos/kavach-go/store/sqlite"
)

// ledger is a real store and a way to change its tables behind its back, as someone with
// database access would.
type ledger struct {
	store.Store
	exec func(t *testing.T, query string, args ...any)
}

// eachLedger runs fn on a fresh SQLite and a fresh Postgres ledger.
func eachLedger(t *testing.T, fn func(t *testing.T, l *ledger)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "k.db")
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, &ledger{Store: s, exec: func(t *testing.T, query string, args ...any) {
			t.Helper()
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for i := len(args); i >= 1; i-- {
				query = strings.ReplaceAll(query, fmt.Sprintf("$%d", i), fmt.Sprintf("?%d", i))
			}
			if _, err := db.Exec(query, args...); err != nil {
				t.Fatal(err)
			}
		}})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t)
		s, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, &ledger{Store: s, exec: func(t *testing.T, query string, args ...any) {
			t.Helper()
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(context.Background(), query, args...); err != nil {
				t.Fatal(err)
			}
		}})
	})
}

// appendEvents appends n events to the tenant's chain.
func appendEvents(t testing.TB, s store.AuditStore, tenant string, n int) {
	t.Helper()
	events := make([]*store.AuditEvent, n)
	for i := range events {
		events[i] = &store.AuditEvent{ID: audit.NewID(), Time: time.Now(), TenantID: tenant, Kind: audit.KindDecision,
			AgentID: fmt.Sprintf("agt_%d", i%3), Action: "read", Resource: "mcp:github:repos",
			Arguments: map[string]any{"i": i}, Result: audit.ResultAllowed, Code: "ALLOWED"}
	}
	if err := s.AppendAudit(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
}

func seedSigner(t testing.TB, b byte) *audit.Signer {
	t.Helper()
	s, err := audit.NewSigner(bytes.Repeat([]byte{b}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustVerify(t *testing.T, s store.AuditStore, tenant string, o audit.VerifyOptions) *audit.Report {
	t.Helper()
	r, err := audit.VerifyWith(context.Background(), s, tenant, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func anchorsOf(t *testing.T, path string, trusted []string) *audit.Anchors {
	t.Helper()
	a, err := audit.LoadAnchors(path, trusted)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func headOf(t *testing.T, s store.AuditStore, tenant string, seq int64) string {
	t.Helper()
	var hash string
	err := s.StreamAudit(context.Background(), store.AuditQuery{TenantID: tenant, AfterSeq: seq - 1, Limit: 1}, func(e *store.AuditEvent) error {
		hash = e.Hash
		return nil
	})
	if err != nil || hash == "" {
		t.Fatalf("no event at seq %d: %v", seq, err)
	}
	return hash
}

// TestWitnessAnchorNamesTailTruncation: the newest events deleted with their checkpoint
// rows and the head rewound leave a chain that verifies on its own; the witness names the
// truncation, and a chain rebuilt to the same length with other events as rewritten.
func TestWitnessAnchorNamesTailTruncation(t *testing.T) {
	t.Parallel()
	eachLedger(t, func(t *testing.T, l *ledger) {
		witness := filepath.Join(t.TempDir(), "witness.jsonl")
		sg := seedSigner(t, 1)
		sg.PublishTo(audit.NewFileWitness(witness), discardLog)
		trusted := []string{sg.PublicKey()}
		for range 2 {
			appendEvents(t, l, "acme", 10)
			if err := sg.Checkpoint(context.Background(), l, "acme"); err != nil {
				t.Fatal(err)
			}
		}
		var lines []store.AuditCheckpoint
		for _, line := range strings.Split(strings.TrimSpace(readText(t, witness)), "\n") {
			var c store.AuditCheckpoint
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				t.Fatalf("a witness line is not a checkpoint: %v: %s", err, line)
			}
			lines = append(lines, c)
		}
		if len(lines) != 2 || lines[1].TenantID != "acme" || lines[1].Seq != 20 || lines[1].Signature == "" || lines[1].PublicKey != sg.PublicKey() {
			t.Fatalf("witness: %+v", lines)
		}
		if r := mustVerify(t, l.Store, "acme", audit.VerifyOptions{Trusted: trusted, Anchors: anchorsOf(t, witness, trusted)}); !r.OK || r.AnchorSeq != 20 {
			t.Fatalf("an intact chain against its witness: %+v", r)
		}

		h10 := headOf(t, l, "acme", 10)
		l.exec(t, `DELETE FROM audit_events WHERE tenant_id = $1 AND seq > $2`, "acme", 10)
		l.exec(t, `DELETE FROM audit_checkpoints WHERE tenant_id = $1 AND seq > $2`, "acme", 10)
		l.exec(t, `UPDATE audit_heads SET seq = $1, hash = $2 WHERE tenant_id = $3`, 10, h10, "acme")
		if r := mustVerify(t, l.Store, "acme", audit.VerifyOptions{Trusted: trusted}); !r.OK || r.Checked != 10 || len(r.Warnings) != 0 {
			t.Fatalf("without the witness the truncated chain verifies: %+v", r)
		}
		r := mustVerify(t, l.Store, "acme", audit.VerifyOptions{Trusted: trusted, Anchors: anchorsOf(t, witness, trusted)})
		if r.OK || r.FirstBrokenSeq != 11 || !strings.Contains(r.Problem, "truncated") || !strings.Contains(r.Problem, "events 11 to 20") {
			t.Fatalf("the witness names the truncation: %+v", r)
		}

		// Other events in their place, chained properly: the length matches, the hash not.
		appendEvents(t, l, "acme", 10)
		r = mustVerify(t, l.Store, "acme", audit.VerifyOptions{Trusted: trusted, Anchors: anchorsOf(t, witness, trusted)})
		if r.OK || r.FirstBrokenSeq != 20 || !strings.Contains(r.Problem, "rewritten") {
			t.Fatalf("the witness names the rewrite: %+v", r)
		}
	})
}

// TestWholeChainDeletedIsNamedByTheWitness: a tenant whose every event is gone still has
// its checkpoint in the witness.
func TestWholeChainDeletedIsNamedByTheWitness(t *testing.T) {
	t.Parallel()
	s := newSQLite(t)
	witness := filepath.Join(t.TempDir(), "witness.jsonl")
	sg := seedSigner(t, 1)
	sg.PublishTo(audit.NewFileWitness(witness), discardLog)
	appendEvents(t, s, "acme", 5)
	if err := sg.Checkpoint(context.Background(), s, "acme"); err != nil {
		t.Fatal(err)
	}
	a := anchorsOf(t, witness, []string{sg.PublicKey()})
	if got := a.Tenants(); len(got) != 1 || got[0] != "acme" {
		t.Fatalf("the witness names %v", got)
	}
	r := mustVerify(t, s, "gone", audit.VerifyOptions{Trusted: []string{sg.PublicKey()}, Anchors: a})
	if !r.OK {
		t.Fatalf("a tenant the witness does not name: %+v", r)
	}
	// Same anchor, a tenant the witness vouches for but the ledger lost entirely.
	other := newSQLite(t)
	r = mustVerify(t, other, "acme", audit.VerifyOptions{Trusted: []string{sg.PublicKey()}, Anchors: a})
	if r.OK || r.FirstBrokenSeq != 1 || !strings.Contains(r.Problem, "events 1 to 5 are missing") {
		t.Fatalf("a chain deleted whole: %+v", r)
	}
}

// TestAnchorSignaturesAreChecked: a witness line whose signature does not verify is
// reported; a line signed by a key that is not trusted is set aside with a warning.
func TestAnchorSignaturesAreChecked(t *testing.T) {
	t.Parallel()
	s := newSQLite(t)
	sg, stranger := seedSigner(t, 1), seedSigner(t, 9)
	appendEvents(t, s, "acme", 5)
	good, foreign := sg.Sign("acme", 5, headOf(t, s, "acme", 5)), stranger.Sign("acme", 9, "x")
	forged := *sg.Sign("acme", 7, "y")
	forged.Seq = 8 // the signature covered seq 7
	var w bytes.Buffer
	for _, c := range []*store.AuditCheckpoint{good, foreign, &forged} {
		b, _ := json.Marshal(c)
		w.Write(append(b, '\n'))
	}
	w.WriteString("{not json\n")
	a, err := audit.ReadAnchors(&w, []string{sg.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	if n := a.Newest("acme"); n == nil || n.Seq != 5 {
		t.Fatalf("the newest trusted checkpoint: %+v", n)
	}
	if ws := strings.Join(a.Warnings(), "\n"); !strings.Contains(ws, "line 2") || !strings.Contains(ws, "not trusted") || !strings.Contains(ws, "line 4") {
		t.Fatalf("warnings: %s", ws)
	}
	r := mustVerify(t, s, "acme", audit.VerifyOptions{Trusted: []string{sg.PublicKey()}, Anchors: a})
	if r.OK || !strings.Contains(r.Problem, "line 3") || !strings.Contains(r.Problem, "invalid signature") {
		t.Fatalf("a forged witness line must be reported: %+v", r)
	}
}

// TestVerifyWarnsWithoutCheckpoint: a chain with events but no signed checkpoint verifies,
// with a warning, until a checkpoint is signed.
func TestVerifyWarnsWithoutCheckpoint(t *testing.T) {
	t.Parallel()
	eachLedger(t, func(t *testing.T, l *ledger) {
		sg := seedSigner(t, 1)
		if r := mustVerify(t, l.Store, "acme", audit.VerifyOptions{Trusted: []string{sg.PublicKey()}}); !r.OK || len(r.Warnings) != 0 {
			t.Fatalf("an empty chain: %+v", r)
		}
		appendEvents(t, l, "acme", 3)
		r := mustVerify(t, l.Store, "acme", audit.VerifyOptions{Trusted: []string{sg.PublicKey()}})
		if !r.OK || r.Checked != 3 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "no signed checkpoint") {
			t.Fatalf("a chain without a checkpoint: %+v", r)
		}
		if err := sg.Checkpoint(context.Background(), l, "acme"); err != nil {
			t.Fatal(err)
		}
		if r := mustVerify(t, l.Store, "acme", audit.VerifyOptions{Trusted: []string{sg.PublicKey()}}); !r.OK || len(r.Warnings) != 0 {
			t.Fatalf("once checkpointed: %+v", r)
		}
	})
}

// TestVerifyHoldsTheChainToItsRecordedHead: events deleted from the end without rewinding
// the recorded head are a truncation even without any checkpoint.
func TestVerifyHoldsTheChainToItsRecordedHead(t *testing.T) {
	t.Parallel()
	eachLedger(t, func(t *testing.T, l *ledger) {
		appendEvents(t, l, "acme", 6)
		l.exec(t, `DELETE FROM audit_events WHERE tenant_id = $1 AND seq > $2`, "acme", 4)
		r := mustVerify(t, l.Store, "acme", audit.VerifyOptions{})
		if r.OK || r.FirstBrokenSeq != 5 || !strings.Contains(r.Problem, "recorded head is 6") {
			t.Fatalf("a chain short of its recorded head: %+v", r)
		}
	})
}

// TestWitnessFailureIsCountedNotReturned: a witness that cannot be written does not stop
// the checkpoint.
func TestWitnessFailureIsCountedNotReturned(t *testing.T) {
	t.Parallel()
	s := newSQLite(t)
	sg := seedSigner(t, 1)
	sg.PublishTo(audit.NewFileWitness(filepath.Join(t.TempDir(), "missing", "witness.jsonl")), discardLog)
	appendEvents(t, s, "acme", 2)
	if err := sg.Checkpoint(context.Background(), s, "acme"); err != nil {
		t.Fatalf("a witness failure must not fail the checkpoint: %v", err)
	}
	if sg.WitnessFailures() != 1 {
		t.Fatalf("witness failures: %d", sg.WitnessFailures())
	}
	if cp, err := s.LatestCheckpoint(context.Background(), "acme"); err != nil || cp.Seq != 2 {
		t.Fatalf("the checkpoint is stored all the same: %+v %v", cp, err)
	}
}

// TestIncrementalVerifyStartsAtTheLastVerifiedCheckpoint: after a full verification, an
// incremental one walks only the events after the checkpoint it confirmed; a break after
// that point is found and clears the record, so the next incremental walk is a full one.
func TestIncrementalVerifyStartsAtTheLastVerifiedCheckpoint(t *testing.T) {
	t.Parallel()
	eachLedger(t, func(t *testing.T, l *ledger) {
		sg := seedSigner(t, 1)
		o := audit.VerifyOptions{Trusted: []string{sg.PublicKey()}, Incremental: true}
		appendEvents(t, l, "acme", 100)
		if err := sg.Checkpoint(context.Background(), l, "acme"); err != nil {
			t.Fatal(err)
		}
		r := mustVerify(t, l.Store, "acme", o)
		if !r.OK || r.From != 0 || r.Checked != 100 || !strings.Contains(strings.Join(r.Warnings, ""), "no earlier verification") {
			t.Fatalf("the first incremental verification walks everything: %+v", r)
		}
		appendEvents(t, l, "acme", 30)
		if err := sg.Checkpoint(context.Background(), l, "acme"); err != nil {
			t.Fatal(err)
		}
		appendEvents(t, l, "acme", 5) // not checkpointed yet
		var progress []audit.Progress
		o.Progress, o.ProgressEvery = func(p audit.Progress) { progress = append(progress, p) }, 10
		r = mustVerify(t, l.Store, "acme", o)
		if !r.OK || r.From != 100 || r.Checked != 35 || r.Head != 135 || len(r.Warnings) != 0 {
			t.Fatalf("incremental from the verified checkpoint: %+v", r)
		}
		if len(progress) != 4 || progress[0].Checked != 0 || progress[3].Checked != 30 || progress[3].Seq != 130 || progress[3].Head != 135 {
			t.Fatalf("progress: %+v", progress)
		}
		o.Progress = nil
		r = mustVerify(t, l.Store, "acme", o)
		if !r.OK || r.From != 130 || r.Checked != 5 {
			t.Fatalf("the next one starts at the newer checkpoint: %+v", r)
		}

		// An event after the verified point is altered: found, and the record is cleared.
		l.exec(t, `UPDATE audit_events SET reason = $1 WHERE tenant_id = $2 AND seq = $3`, "edited", "acme", 133)
		if r := mustVerify(t, l.Store, "acme", o); r.OK || r.FirstBrokenSeq != 133 {
			t.Fatalf("a break after the verified point: %+v", r)
		}
		if v, err := l.Store.(store.AuditVerifiedStore).AuditVerified(context.Background(), "acme"); err != nil || v.Seq != 0 {
			t.Fatalf("a failed verification clears the record: %+v %v", v, err)
		}
		if r := mustVerify(t, l.Store, "acme", o); r.OK || r.From != 0 || r.FirstBrokenSeq != 133 {
			t.Fatalf("then incremental verification walks from the start: %+v", r)
		}
	})
}

// TestIncrementalVerifyDistrustsAForgedRecord: a record that names no trusted checkpoint
// is ignored, and the chain is walked in full.
func TestIncrementalVerifyDistrustsAForgedRecord(t *testing.T) {
	t.Parallel()
	s := newSQLite(t)
	sg := seedSigner(t, 1)
	appendEvents(t, s, "acme", 20)
	if err := sg.Checkpoint(context.Background(), s, "acme"); err != nil {
		t.Fatal(err)
	}
	// An event before seq 15 is altered, and a record claims verification up to seq 15.
	if err := s.(store.AuditVerifiedStore).SaveAuditVerified(context.Background(), &store.AuditVerified{TenantID: "acme", Seq: 15, Hash: headOf(t, s, "acme", 15)}); err != nil {
		t.Fatal(err)
	}
	r := mustVerify(t, s, "acme", audit.VerifyOptions{Trusted: []string{sg.PublicKey()}, Incremental: true})
	if !r.OK || r.From != 0 || r.Checked != 20 || !strings.Contains(strings.Join(r.Warnings, ""), "does not match a trusted signed checkpoint") {
		t.Fatalf("a record without a checkpoint: %+v", r)
	}
}

var discardLog = slog.New(slog.DiscardHandler)

func newSQLite(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
