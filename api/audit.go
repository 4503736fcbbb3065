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
}
