package store

import (
	"context"
	"time"
)

// AuditVerifiedStore is an AuditStore that remembers, per tenant, the newest signed
// checkpoint a verification walked the chain up to, so that the next verification can
// start after it instead of at the chain's start. The record is a hint, never trusted on
// its own: a verifier starts after it only if a checkpoint with a trusted signature and
// the chain still agree with it.
type AuditVerifiedStore interface {
	// SaveAuditVerified records v, replacing the tenant's earlier record; Seq 0 clears it.
	SaveAuditVerified(ctx context.Context, v *AuditVerified) error
	// AuditVerified returns the tenant's record (ErrNotFound if there is none).
	AuditVerified(ctx context.Context, tenantID string) (*AuditVerified, error)
}

// AuditVerified says that a tenant's chain verified up to the checkpoint (Seq, Hash).
type AuditVerified struct {
	TenantID   string
	Seq        int64
	Hash       string
	VerifiedAt time.Time // set by the store when zero
}
