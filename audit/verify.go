package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/kavachos/kavach-go/store"
)

// Report is the outcome of verifying one tenant's chain.
type Report struct {
	TenantID string `json:"tenantId"`
	OK       bool   `json:"ok"`
	Checked  int64  `json:"checked"`
	// FirstBrokenID names the first event that fails verification; for missing events, the
	// first event after the gap (empty if the gap is at the end).
	FirstBrokenID  string `json:"firstBrokenId,omitempty"`
	FirstBrokenSeq int64  `json:"firstBrokenSeq,omitempty"`
	Problem        string `json:"problem,omitempty"`
	// Head is the last seq verified; CheckpointSeq the newest signed checkpoint's.
	Head          int64 `json:"head"`
	CheckpointSeq int64 `json:"checkpointSeq,omitempty"`
}

func (r *Report) fail(seq int64, id, format string, args ...any) *Report {
	r.OK, r.FirstBrokenSeq, r.FirstBrokenID, r.Problem = false, seq, id, fmt.Sprintf(format, args...)
	return r
}

// Verify walks a tenant's chain from its base: every seq present and in order, every
// event linked to the previous hash and hashing to its own. It then checks the newest
// signed checkpoint (signed by one of trusted, base64 Ed25519 public keys): the chain must
// reach it and agree with it, or events were deleted from the end. A pruned chain's base
// must be vouched for by a signed checkpoint too.
func Verify(ctx context.Context, st store.AuditStore, tenantID string, trusted []string) (*Report, error) {
	r := &Report{TenantID: tenantID, OK: true}
	expect, prev := int64(1), ""
	base, err := st.AuditBase(ctx, tenantID)
	switch {
	case err == nil:
		expect, prev = base.Seq, base.PrevHash
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	errStop := errors.New("stop")
	err = st.StreamAudit(ctx, store.AuditQuery{TenantID: tenantID}, func(e *store.AuditEvent) error {
		switch {
		case e.Seq != expect:
			r.fail(expect, e.ID, "events %d to %d are missing before event %s", expect, e.Seq-1, e.ID)
		case e.PrevHash != prev:
			r.fail(e.Seq, e.ID, "event %s (seq %d) does not link to the previous event's hash", e.ID, e.Seq)
		case store.ChainHash(prev, e) != e.Hash:
			r.fail(e.Seq, e.ID, "event %s (seq %d) was altered: its content does not match its hash", e.ID, e.Seq)
		default:
			r.Checked++
			r.Head, expect, prev = e.Seq, e.Seq+1, e.Hash
			return nil
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if !r.OK {
		return r, nil
	}
	if base != nil {
		if err := checkBase(ctx, st, base, trusted); err != nil {
			return r.fail(base.Seq, "", "%v", err), nil
		}
	}
	cp, err := st.LatestCheckpoint(ctx, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	r.CheckpointSeq = cp.Seq
	if err := VerifyCheckpoint(cp, trusted); err != nil {
		return r.fail(cp.Seq, "", "%v", err), nil
	}
	if base != nil && cp.Seq < base.Seq {
		return r, nil // it vouches for pruned events; checkBase has already checked the base
	}
	if cp.Seq > r.Head {
		return r.fail(r.Head+1, "", "events %d to %d are missing: the chain ends at %d but a checkpoint signed at %s vouches for %d (truncated)",
			r.Head+1, cp.Seq, r.Head, cp.SignedAt.Format("2006-01-02T15:04:05Z07:00"), cp.Seq), nil
	}
	var atCheckpoint *store.AuditEvent
	_ = st.StreamAudit(ctx, store.AuditQuery{TenantID: tenantID, AfterSeq: cp.Seq - 1, Limit: 1}, func(e *store.AuditEvent) error {
		atCheckpoint = e
		return nil
	})
	if atCheckpoint == nil || atCheckpoint.Hash != cp.Hash {
		return r.fail(cp.Seq, "", "the chain disagrees with the signed checkpoint at seq %d", cp.Seq), nil
	}
	return r, nil
}

// checkBase requires a signed checkpoint of the last pruned event: otherwise anyone could
// delete the oldest events and write a base.
func checkBase(ctx context.Context, st store.AuditStore, base *store.AuditBase, trusted []string) error {
	cp, err := st.GetCheckpoint(ctx, base.TenantID, base.Seq-1)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || cp.Hash != base.PrevHash || VerifyCheckpoint(cp, trusted) != nil {
		return fmt.Errorf("the chain starts at seq %d but no valid signed checkpoint vouches for the pruned events before it", base.Seq)
	}
	return nil
}
