package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kavachos/kavach-go/store"
)

// Export formats.
const (
	FormatJSON   = "json"   // one JSON array
	FormatNDJSON = "ndjson" // one JSON object per line
	FormatCSV    = "csv"    // RFC 4180, with a header row
)

// CSVHeader is the first row of a CSV export.
var CSVHeader = []string{"id", "seq", "time", "tenantId", "kind", "agentId", "ownerId", "actor", "action",
	"resource", "arguments", "result", "code", "reason", "durationNs", "ip", "userAgent", "grant", "via",
	"approvalId", "revision", "prevHash", "hash", "traceId"}

// csvColumnsBeforeTraceID is the number of columns of exports written before events
// carried a trace id; ParseCSVRow reads those rows too.
const csvColumnsBeforeTraceID = 23

// ValidFormat reports whether f is an export format.
func ValidFormat(f string) bool { return f == FormatJSON || f == FormatNDJSON || f == FormatCSV }

// Export streams the events q selects (and keep accepts, if set) to w in the given format.
// Memory stays constant whatever the number of rows: each event is written as it is read.
func Export(ctx context.Context, st store.AuditStore, q store.AuditQuery, format string, keep func(*store.AuditEvent) bool, w io.Writer) (int64, error) {
	if !ValidFormat(format) {
		return 0, fmt.Errorf("export format %q: want json, ndjson or csv", format)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var (
		n    int64
		cw   *csv.Writer
		enc  = json.NewEncoder(bw)
		rows = make([]string, len(CSVHeader))
	)
	switch format {
	case FormatCSV:
		cw = csv.NewWriter(bw)
		if err := cw.Write(CSVHeader); err != nil {
			return 0, err
		}
	case FormatJSON:
		bw.WriteString("[")
	}
	err := st.StreamAudit(ctx, q, func(e *store.AuditEvent) error {
		if keep != nil && !keep(e) {
			return nil
		}
		n++
		switch format {
		case FormatCSV:
			csvRow(e, rows)
			return cw.Write(rows)
		case FormatJSON:
			if n > 1 {
				bw.WriteString(",")
			}
			bw.WriteString("\n")
		}
		return enc.Encode(e)
	})
	if err != nil {
		return n, err
	}
	switch format {
	case FormatCSV:
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, err
		}
	case FormatJSON:
		bw.WriteString("]\n")
	}
	return n, bw.Flush()
}

func csvRow(e *store.AuditEvent, row []string) {
	via, _ := json.Marshal(e.Via)
	if e.Via == nil {
		via = []byte("[]")
	}
	args := e.ArgumentsJSON
	if args == "" && e.Arguments != nil {
		b, _ := json.Marshal(e.Arguments)
		args = string(b)
	}
	copy(row, []string{e.ID, strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(time.RFC3339Nano), e.TenantID,
		e.Kind, e.AgentID, e.OwnerID, e.Actor, e.Action, e.Resource, args, e.Result, e.Code, e.Reason,
		strconv.FormatInt(e.DurationNS, 10), e.IP, e.UserAgent, e.Grant, string(via), e.ApprovalID, e.Revision,
		e.PrevHash, e.Hash, e.TraceID})
}

// ParseCSVRow turns a CSV export row (after the header) back into an event. Rows of
// exports written before the traceId column existed are read as events without one.
func ParseCSVRow(row []string) (*store.AuditEvent, error) {
	if len(row) != len(CSVHeader) && len(row) != csvColumnsBeforeTraceID {
		return nil, fmt.Errorf("csv row has %d fields, want %d (or %d, written before the trace id)", len(row), len(CSVHeader), csvColumnsBeforeTraceID)
	}
	e := &store.AuditEvent{ID: row[0], TenantID: row[3], Kind: row[4], AgentID: row[5], OwnerID: row[6],
		Actor: row[7], Action: row[8], Resource: row[9], ArgumentsJSON: row[10], Result: row[11], Code: row[12],
		Reason: row[13], IP: row[15], UserAgent: row[16], Grant: row[17], ApprovalID: row[19], Revision: row[20],
		PrevHash: row[21], Hash: row[22]}
	if len(row) > csvColumnsBeforeTraceID {
		e.TraceID = row[23]
	}
	var err error
	if e.Seq, err = strconv.ParseInt(row[1], 10, 64); err != nil {
		return nil, fmt.Errorf("seq: %w", err)
	}
	if e.Time, err = time.Parse(time.RFC3339Nano, row[2]); err != nil {
		return nil, fmt.Errorf("time: %w", err)
	}
	if e.DurationNS, err = strconv.ParseInt(row[14], 10, 64); err != nil {
		return nil, fmt.Errorf("durationNs: %w", err)
	}
	if err := json.Unmarshal([]byte(row[18]), &e.Via); err != nil {
		return nil, fmt.Errorf("via: %w", err)
	}
	if len(e.Via) == 0 {
		e.Via = nil
	}
	if strings.TrimSpace(e.ArgumentsJSON) != "" {
		if err := json.Unmarshal([]byte(e.ArgumentsJSON), &e.Arguments); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
	}
	return e, nil
}
