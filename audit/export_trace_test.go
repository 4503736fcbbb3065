package audit

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/sqlite"
)

const exportTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"

// Every export format carries an event's trace id: JSON and NDJSON as "traceId", CSV in
// the last column (empty for an event without one), and ParseCSVRow reads it back. A row
// of an export written before that column existed still parses.
func TestExportsCarryTheTraceID(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kavach.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	events := newEvents([]string{"default"}, 2)
	events[0].TraceID = exportTraceID
	if err := s.AppendAudit(ctx, events...); err != nil {
		t.Fatal(err)
	}
	q := store.AuditQuery{TenantID: "default"}
	var nd bytes.Buffer
	if _, err := Export(ctx, s, q, FormatNDJSON, nil, &nd); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(nd.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"traceId":"`+exportTraceID+`"`) || strings.Contains(lines[1], "traceId") {
		t.Fatalf("NDJSON export:\n%s", nd.String())
	}
	var js bytes.Buffer
	if _, err := Export(ctx, s, q, FormatJSON, nil, &js); err != nil {
		t.Fatal(err)
	}
	var decoded []store.AuditEvent
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil || len(decoded) != 2 || decoded[0].TraceID != exportTraceID || decoded[1].TraceID != "" {
		t.Fatalf("JSON export: %v\n%s", err, js.String())
	}

	var c bytes.Buffer
	if _, err := Export(ctx, s, q, FormatCSV, nil, &c); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&c).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("CSV export: %d rows, %v", len(rows), err)
	}
	if last := len(CSVHeader) - 1; CSVHeader[last] != "traceId" || rows[0][last] != "traceId" ||
		rows[1][last] != exportTraceID || rows[2][last] != "" {
		t.Fatalf("CSV traceId column: header %v, rows %q, %q", rows[0], rows[1], rows[2])
	}
	for i, row := range rows[1:] {
		e, err := ParseCSVRow(row)
		if err != nil || e.TraceID != events[i].TraceID || e.Hash != events[i].Hash {
			t.Fatalf("row %d parses as %+v, %v", i, e, err)
		}
		if e.Hash != store.ChainHash(e.PrevHash, e) {
			t.Fatalf("row %d does not verify when read back", i)
		}
	}
	old, err := ParseCSVRow(rows[2][:len(rows[2])-1])
	if err != nil || old.ID != events[1].ID || old.TraceID != "" {
		t.Fatalf("a row without the traceId column: %+v, %v", old, err)
	}
	if _, err := ParseCSVRow(rows[1][:len(rows[1])-2]); err == nil {
		t.Fatal("a row of another width must be refused")
	}
}

// The Kafka message carries the trace id, also when the event is too large and is
// published truncated.
func TestRelayMessageCarriesTheTraceID(t *testing.T) {
	small := newEvents([]string{"acme"}, 1)[0]
	small.TraceID = exportTraceID
	huge := newEvents([]string{"acme"}, 2)[1]
	huge.TraceID, huge.Arguments = exportTraceID, map[string]any{"blob": strings.Repeat("x", 2<<20)}
	for _, e := range []*store.AuditEvent{small, huge} {
		m, err := encodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		var msg RelayMessage
		if err := json.Unmarshal(m.Value, &msg); err != nil {
			t.Fatal(err)
		}
		if msg.Event.TraceID != exportTraceID {
			t.Errorf("event %s (truncated %v): trace id %q", e.ID, msg.Truncated, msg.Event.TraceID)
		}
	}
}
