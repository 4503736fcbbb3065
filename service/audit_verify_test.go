package service_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
	"github.com/kavachos/kavach-go/store"
)

// fillLedger appends n decision events to the default tenant's chain and signs its head.
func fillLedger(t *testing.T, s *testserver.Server, n int) {
	t.Helper()
	ctx := context.Background()
	batch := make([]*store.AuditEvent, 0, 1000)
	for i := range n {
		batch = append(batch, &store.AuditEvent{ID: audit.NewID(), Time: time.Now(), TenantID: "default",
			Kind: audit.KindDecision, AgentID: fmt.Sprintf("agt_%d", i%50), Action: "read", Resource: "mcp:github:repos",
			Arguments: map[string]any{"i": i}, Result: audit.ResultAllowed, Code: "ALLOWED"})
		if len(batch) == cap(batch) || i == n-1 {
			if err := s.Kavach.Store().AppendAudit(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := s.Kavach.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
}

// verifyLine is one line of a streamed verification.
type verifyLine struct {
	Progress *json.RawMessage `json:"progress"`
	Report   *api.AuditReport `json:"report"`
}

// TestVerifyOutlivesTheWriteTimeout: verifying a ledger takes longer than the server's
// write timeout, yet the route answers in full, as one JSON report and as a stream of
// NDJSON progress lines ending with the report.
func TestVerifyOutlivesTheWriteTimeout(t *testing.T) {
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) { verifyOutlivesTheWriteTimeout(t, b) })
}

func verifyOutlivesTheWriteTimeout(t *testing.T, b testserver.Backend) {
	const timeout = 10 * time.Millisecond
	s := testserver.Start(t, b.New(t), service.Config{WriteTimeout: timeout})
	const n = 8_000
	fillLedger(t, s, n)
	start := time.Now()
	if r, err := s.Kavach.Audit().Verify(kavach.WithActor(context.Background(), api.Root), ""); err != nil || !r.OK {
		t.Fatalf("in-process verify: %+v %v", r, err)
	}
	if took := time.Since(start); took < 2*timeout {
		t.Fatalf("verifying took %v: the ledger is too small to outlast a %v write timeout", took, timeout)
	}

	resp := send(t, "GET", s.URL+"/v1/audit/verify", s.RootKey, "")
	var r api.AuditReport
	resp.decode(t, &r)
	if resp.status != http.StatusOK || !r.OK || r.Checked < n {
		t.Fatalf("plain verify: %d %s", resp.status, resp.body)
	}

	for _, how := range []struct{ query, accept string }{{"", "application/x-ndjson"}, {"?stream=true", ""}} {
		req, _ := http.NewRequest("GET", s.URL+"/v1/audit/verify"+how.query, nil)
		req.Header.Set("Authorization", "Bearer "+s.RootKey)
		if how.accept != "" {
			req.Header.Set("Accept", how.accept)
		}
		res, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || ct != "application/x-ndjson" {
			t.Fatalf("streamed verify %q: %d %s", how.query, res.StatusCode, ct)
		}
		var lines []verifyLine
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			var l verifyLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("line %d: %v: %s", len(lines), err, sc.Bytes())
			}
			lines = append(lines, l)
		}
		res.Body.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("streamed verify %q cut off after %d lines: %v", how.query, len(lines), err)
		}
		last := lines[len(lines)-1]
		if len(lines) < 2 || lines[0].Progress == nil || last.Report == nil || !last.Report.OK || last.Report.Checked < n {
			t.Fatalf("streamed verify %q: %d lines, last %+v", how.query, len(lines), last)
		}
	}
}

// TestVerifyFromCheckpoint: from=checkpoint walks only the events after the newest
// checkpoint an earlier verification confirmed.
func TestVerifyFromCheckpoint(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	fillLedger(t, s, 500)
	var r api.AuditReport
	if resp := send(t, "GET", s.URL+"/v1/audit/verify?from=checkpoint", s.RootKey, ""); resp.status != http.StatusOK {
		t.Fatalf("%d %s", resp.status, resp.body)
	} else if resp.decode(t, &r); !r.OK || r.Checked < 500 {
		t.Fatalf("the first walk is a full one: %s", resp.body)
	}
	fillLedger(t, s, 10)
	resp := send(t, "GET", s.URL+"/v1/audit/verify?from=checkpoint", s.RootKey, "")
	if resp.decode(t, &r); resp.status != http.StatusOK || !r.OK || r.Checked != 10 {
		t.Fatalf("the next walks only what is new: %d %s", resp.status, resp.body)
	}
	for _, q := range []string{"from=yesterday", "stream=maybe"} {
		resp := send(t, "GET", s.URL+"/v1/audit/verify?"+q, s.RootKey, "")
		if resp.status != http.StatusBadRequest {
			t.Fatalf("%s: %d %s", q, resp.status, resp.body)
		}
		resp.problem(t)
	}
}
