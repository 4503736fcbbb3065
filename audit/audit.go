// Package audit records every decision and management action in a tamper-evident ledger:
// a bounded queue feeds group commits into the store's per-tenant hash chains, chain heads
// are checkpointed with an Ed25519 signature, and Verify walks a chain to name the first
// broken or missing event. Query and export read the ledger back.
package audit

import (
	"context"

	"github.com/kavachos/kavach-go/store"
)

// Event kinds.
const (
	KindDecision   = "decision"
	KindManagement = "management"
)

// Decision results.
const (
	ResultAllowed          = "allowed"
	ResultDenied           = "denied"
	ResultRateLimited      = "rate_limited"
	ResultApprovalRequired = "approval_required"
	ResultCheck            = "check"
	// ResultOK marks a management action that was carried out.
	ResultOK = "ok"
)

// Recorder takes audit events. Record returns an error when the event could not be
// accepted (the caller then fails closed); it may set e.ID.
type Recorder interface {
	Record(ctx context.Context, e *store.AuditEvent) error
}
