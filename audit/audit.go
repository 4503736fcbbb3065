// Package audit records every decision and management action. A Recorder takes events; the
// StoreRecorder writes each one to the store's audit ledger before returning, so a call
// whose event cannot be written fails closed.
package audit

import (
	"context"
	"fmt"

	"github.com/google/uuid"

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
)

// Recorder takes audit events.
type Recorder interface {
	Record(ctx context.Context, e *store.AuditEvent) error
}

// StoreRecorder writes events synchronously to the store's audit ledger.
type StoreRecorder struct {
	Store store.AuditStore
}

// Record assigns an id if the event has none and writes it.
func (r StoreRecorder) Record(ctx context.Context, e *store.AuditEvent) error {
	if e.ID == "" {
		e.ID = NewID()
	}
	if err := r.Store.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// NewID returns a UUIDv7: unique and ordered by time.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}
