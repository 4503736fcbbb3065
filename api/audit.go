package api

import (
	"context"
	"io"
	"time"

	"github.com/kavachos/kavach-go/agent"
)

// Audit reads the ledger: every decision and management action, hash-chained per tenant.
type Audit interface {
	Query(ctx context.Context, q AuditQuery) (*AuditPage, error)
	// Export streams every event q selects (no row cap; Limit and Cursor are ignored) as
	// json, ndjson or csv.
	Export(ctx context.Context, q AuditQuery, format string, w io.Writer) error
	// Verify walks the chain of a tenant ("" for the caller's; for root, every tenant) and
	// names the first broken or missing event.
	Verify(ctx context.Context, tenantID string) (*AuditReport, error)
}

// AuditQuery filters events. Resource may be a pattern (mcp:github:*). Order is "desc"
// (newest first, the default) or "asc".
type AuditQuery struct {
	TenantID string     `json:"tenantId,omitempty"`
	AgentID  string     `json:"agentId,omitempty"`
	OwnerID  string     `json:"ownerId,omitempty"`
	Action   string     `json:"action,omitempty"`
	Resource string     `json:"resource,omitempty"`
	Result   string     `json:"result,omitempty"`
	Code     string     `json:"code,omitempty"`
	TraceID  string     `json:"traceId,omitempty"` // a W3C trace id (32 hex digits)
	Since    *time.Time `json:"since,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
	Limit    int        `json:"limit,omitempty"`
	Cursor   string     `json:"cursor,omitempty"`
	Order    string     `json:"order,omitempty"`
	// AfterSeq returns only events after this seq of the tenant's chain (for following
	// the ledger).
	AfterSeq int64 `json:"afterSeq,omitempty"`
}

// AuditPage is one page of events; NextCursor is empty on the last page.
type AuditPage struct {
	Events     []agent.AuditEvent `json:"events"`
	NextCursor string             `json:"nextCursor,omitempty"`
}

// AuditReport is the outcome of verifying audit chains.
type AuditReport struct {
	OK      bool  `json:"ok"`
	Checked int64 `json:"checked"`
	// FirstBrokenID names the first event that fails verification (or, for missing
	// events, the first event after the gap).
	FirstBrokenID  string `json:"firstBrokenId,omitempty"`
	FirstBrokenSeq int64  `json:"firstBrokenSeq,omitempty"`
	TenantID       string `json:"tenantId,omitempty"`
	Problem        string `json:"problem,omitempty"`
	// Warnings are findings that do not fail verification but weaken what it proves, such
	// as a chain with events but no signed checkpoint.
	Warnings []string `json:"warnings,omitempty"`
}

// AuditVerifier verifies with options. The embedded SDK's Audit implements it; find it by
// type assertion on Audit().
type AuditVerifier interface {
	VerifyWith(ctx context.Context, opts AuditVerifyOptions) (*AuditReport, error)
}

// AuditVerifyOptions tune a verification.
type AuditVerifyOptions struct {
	// TenantID is as for Verify: "" for the caller's tenant, or for root every tenant.
	TenantID string
	// Incremental starts each chain after the newest signed checkpoint an earlier
	// verification confirmed, rather than at its start; without one the chain is walked in
	// full.
	Incremental bool
	// Anchor is a witness: one signed checkpoint per line, as the audit witness file holds
	// them. Each chain must still reach, and agree with, the newest checkpoint with a
	// trusted signature that the anchor holds for it.
	Anchor io.Reader
	// Progress, if set, is told how far each chain has been walked, every few thousand
	// events.
	Progress func(AuditProgress)
}

// AuditProgress is how far a verification has walked one tenant's chain: Checked events
// verified so far, the last at Seq, of a chain whose head was Head when the walk began.
type AuditProgress struct {
	TenantID string `json:"tenantId"`
	Checked  int64  `json:"checked"`
	Seq      int64  `json:"seq"`
	Head     int64  `json:"head"`
}

// AuditVerifyLine is one line of a streamed verification (GET /v1/audit/verify as
// application/x-ndjson): progress lines, then the report; or, if verification could not
// finish, an error.
type AuditVerifyLine struct {
	Progress *AuditProgress `json:"progress,omitempty"`
	Report   *AuditReport   `json:"report,omitempty"`
	Error    *Problem       `json:"error,omitempty"`
}

// ParseSince reads a point in time as the CLI and the API take one for "since": an RFC 3339
// time, or a Go duration back from now ("24h" is a day ago).
func ParseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(-d), nil
}
