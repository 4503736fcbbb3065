package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/store"
)

// testAuditVerified: a tenant's verification record round-trips, a later save replaces
// it, seq 0 clears it, and tenants do not see each other's.
func testAuditVerified(t *testing.T, s store.Store) {
	vs, ok := s.(store.AuditVerifiedStore)
	if !ok {
		t.Skip("the store keeps no verification record (store.AuditVerifiedStore)")
	}
	if _, err := vs.AuditVerified(ctx, "default"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no record yet: want ErrNotFound, got %v", err)
	}
	at := now()
	saves := []store.AuditVerified{
		{TenantID: "default", Seq: 10, Hash: "h10", VerifiedAt: at},
		{TenantID: "acme", Seq: 3, Hash: "h3", VerifiedAt: at},
		{TenantID: "default", Seq: 25, Hash: "h25", VerifiedAt: at.Add(time.Second)},
	}
	for _, v := range saves {
		if err := vs.SaveAuditVerified(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := vs.AuditVerified(ctx, "default")
	if err != nil || got.Seq != 25 || got.Hash != "h25" || !got.VerifiedAt.Equal(at.Add(time.Second)) {
		t.Fatalf("the later save replaces the record: %+v, %v", got, err)
	}
	if got, err := vs.AuditVerified(ctx, "acme"); err != nil || got.Seq != 3 || got.Hash != "h3" {
		t.Fatalf("another tenant's record: %+v, %v", got, err)
	}
	if err := vs.SaveAuditVerified(ctx, &store.AuditVerified{TenantID: "default"}); err != nil {
		t.Fatal(err)
	}
	if got, err := vs.AuditVerified(ctx, "default"); err != nil || got.Seq != 0 || got.VerifiedAt.IsZero() {
		t.Fatalf("a cleared record: %+v, %v", got, err)
	}
}
