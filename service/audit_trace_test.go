package service_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
	"github.com/kavachos/kavach-go/store"
)

// GET /v1/audit and the export filter by traceId and return each event's traceId; a
// malformed traceId is a 400.
func TestAuditTraceIDFilter(t *testing.T) {
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		s := testserver.Start(t, b.New(t), service.Config{})
		ctx := context.Background()
		var events []*store.AuditEvent
		for i := range 3 {
			e := &store.AuditEvent{ID: audit.NewID(), Time: time.Now(), TenantID: "default", Kind: audit.KindDecision,
				AgentID: "agt_1", Action: "read", Resource: "mcp:github:repos", Result: audit.ResultAllowed, Code: "ALLOWED"}
			if i != 1 {
				e.TraceID = traceID
			}
			events = append(events, e)
		}
		if err := s.Kavach.Store().AppendAudit(ctx, events...); err != nil {
			t.Fatal(err)
		}

		c := s.Client(t, api.Actor{})
		page, err := c.Audit().Query(ctx, api.AuditQuery{TraceID: traceID, Order: "asc"})
		if err != nil || len(page.Events) != 2 || page.Events[0].ID != events[0].ID || page.Events[1].ID != events[2].ID ||
			page.Events[0].TraceID != traceID {
			t.Fatalf("query by trace id: %+v, %v", page, err)
		}
		var out bytes.Buffer
		if err := c.Audit().Export(ctx, api.AuditQuery{TraceID: traceID}, "csv", &out); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&out).ReadAll()
		if err != nil || len(rows) != 3 || rows[1][len(rows[1])-1] != traceID {
			t.Fatalf("csv export by trace id: %q, %v", rows, err)
		}

		get := func(query string) (int, []byte) {
			req, _ := http.NewRequest(http.MethodGet, s.URL+"/v1/audit?"+query, nil)
			req.Header.Set("Authorization", "Bearer "+s.RootKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, body
		}
		status, body := get("traceId=" + traceID + "&limit=1&order=asc")
		var raw struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(body, &raw); status != http.StatusOK || err != nil || len(raw.Events) != 1 || raw.Events[0]["traceId"] != traceID {
			t.Fatalf("GET /v1/audit?traceId: %d %s", status, body)
		}
		if status, body := get("traceId=not-a-trace"); status != http.StatusBadRequest {
			t.Fatalf("a malformed traceId: %d %s", status, body)
		}
	})
}
