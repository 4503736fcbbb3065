package sqlite

import (
	"context"
	"time"

	"github.com/kavachos/kavach-go/store"
)

var _ store.AuditVerifiedStore = (*Store)(nil)

// SaveAuditVerified records how far a tenant's chain has been verified (store.AuditVerifiedStore).
func (s *Store) SaveAuditVerified(ctx context.Context, v *store.AuditVerified) error {
	at := v.VerifiedAt
	if at.IsZero() {
		at = time.Now()
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit_verified (tenant_id, seq, hash, verified_at) VALUES (?,?,?,?)
		ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, verified_at = excluded.verified_at`,
		v.TenantID, v.Seq, v.Hash, micros(at))
	return mapErr(err, "audit verified")
}

// AuditVerified returns the tenant's verification record.
func (s *Store) AuditVerified(ctx context.Context, tenantID string) (*store.AuditVerified, error) {
	v := store.AuditVerified{TenantID: tenantID}
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT seq, hash, verified_at FROM audit_verified WHERE tenant_id = ?`, tenantID).
		Scan(&v.Seq, &v.Hash, &at)
	if err != nil {
		return nil, mapErr(err, "audit verified of "+tenantID)
	}
	v.VerifiedAt = fromMicros(at)
	return &v, nil
}
