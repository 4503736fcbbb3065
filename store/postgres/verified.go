package postgres

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
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_verified (tenant_id, seq, hash, verified_at) VALUES ($1,$2,$3,$4)
		ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, verified_at = excluded.verified_at`,
		v.TenantID, v.Seq, v.Hash, at.UTC().Truncate(time.Microsecond))
	return mapErr(err, "audit verified")
}

// AuditVerified returns the tenant's verification record.
func (s *Store) AuditVerified(ctx context.Context, tenantID string) (*store.AuditVerified, error) {
	v := store.AuditVerified{TenantID: tenantID}
	err := s.pool.QueryRow(ctx, `SELECT seq, hash, verified_at FROM audit_verified WHERE tenant_id = $1`, tenantID).
		Scan(&v.Seq, &v.Hash, &v.VerifiedAt)
	if err != nil {
		return nil, mapErr(err, "audit verified of "+tenantID)
	}
	v.VerifiedAt = v.VerifiedAt.UTC()
	return &v, nil
}
