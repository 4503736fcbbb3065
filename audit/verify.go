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
	// From is the verified checkpoint an incremental verification started after (0: the
	// chain was walked from its start); AnchorSeq the witness checkpoint the chain was
	// held against.
	From      int64 `json:"from,omitempty"`
	AnchorSeq int64 `json:"anchorSeq,omitempty"`
	// Warnings are findings that do not break the chain but weaken what its verification
	// proves, such as a chain without any signed checkpoint.
	Warnings []string `json:"warnings,omitempty"`
}

func (r *Report) fail(seq int64, id, format string, args ...any) *Report {
	r.OK, r.FirstBrokenSeq, r.FirstBrokenID, r.Problem = false, seq, id, fmt.Sprintf(format, args...)
	return r
}

func (r *Report) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// Progress is how far a verification has walked a tenant's chain.
type Progress struct {
	TenantID string `json:"tenantId"`
	// Checked counts the events verified so far; Seq is the last of them, Head the chain's
	// head when the walk began.
	Checked int64 `json:"checked"`
	Seq     int64 `json:"seq"`
	Head    int64 `json:"head"`
}

// DefaultProgressEvery is how many events pass between two progress reports.
const DefaultProgressEvery = 10_000

// VerifyOptions tune VerifyWith.
type VerifyOptions struct {
	// Trusted are the base64 Ed25519 public keys whose checkpoints count.
	Trusted []string
	// Anchors, read from a witness, name a checkpoint the chain must still reach.
	Anchors *Anchors
	// Incremental starts after the newest signed checkpoint an earlier verification
	// confirmed (kept by a store that is a store.AuditVerifiedStore), instead of at the
	// chain's start. Without such a record the chain is walked in full.
	Incremental bool
	// Progress, if set, is called as the walk begins and every ProgressEvery events
	// (default DefaultProgressEvery).
	Progress      func(Progress)
	ProgressEvery int64
}

// Verify walks a tenant's chain from its base: every seq present and in order, every
// event linked to the previous hash and hashing to its own. It then checks the newest
// signed checkpoint (signed by one of trusted, base64 Ed25519 public keys): the chain must
// reach it and agree with it, or events were deleted from the end. A pruned chain's base
// must be vouched for by a signed checkpoint too.
func Verify(ctx context.Context, st store.AuditStore, tenantID string, trusted []string) (*Report, error) {
	return VerifyWith(ctx, st, tenantID, VerifyOptions{Trusted: trusted})
}

// VerifyWith is Verify with options: an anchor from a witness, incremental verification and
// progress reports. A store that is a store.AuditVerifiedStore remembers the newest
// checkpoint a successful verification confirmed, and forgets it when one fails.
func VerifyWith(ctx context.Context, st store.AuditStore, tenantID string, o VerifyOptions) (*Report, error) {
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	v := &verifier{st: st, o: o, r: &Report{TenantID: tenantID, OK: true}}
	if err := v.run(ctx); err != nil {
		return nil, err
	}
	if err := v.remember(ctx); err != nil {
		v.r.warn("tenant %s: the outcome could not be recorded for incremental verification: %v", tenantID, err)
	}
	return v.r, nil
}

// verifier is one verification of one chain.
type verifier struct {
	st   store.AuditStore
	o    VerifyOptions
	r    *Report
	base *store.AuditBase
	cp   *store.AuditCheckpoint // the newest checkpoint, once checked
}

func (v *verifier) run(ctx context.Context) error {
	r := v.r
	// The head is read before the walk: every event up to it is committed, so the walk
	// must reach it.
	headSeq, headHash, err := v.st.AuditHead(ctx, r.TenantID)
	if err != nil {
		return err
	}
	expect, prev := int64(1), ""
	v.base, err = v.st.AuditBase(ctx, r.TenantID)
	switch {
	case err == nil:
		expect, prev = v.base.Seq, v.base.PrevHash
	case errors.Is(err, store.ErrNotFound):
		v.base = nil
	default:
		return err
	}
	if v.o.Incremental {
		from, err := v.resume(ctx)
		if err != nil {
			return err
		}
		if from != nil {
			r.From, expect, prev = from.Seq, from.Seq+1, from.Hash
		}
	}
	r.Head = expect - 1
	if err := v.walk(ctx, expect, prev, headSeq, headHash); err != nil || !r.OK {
		return err
	}
	if r.Head < headSeq {
		r.fail(r.Head+1, "", "events %d to %d are missing: the chain ends at %d but its recorded head is %d (truncated)",
			r.Head+1, headSeq, r.Head, headSeq)
		return nil
	}
	if v.base != nil {
		if err := checkBase(ctx, v.st, v.base, v.o.Trusted); err != nil {
			r.fail(v.base.Seq, "", "%v", err)
			return nil
		}
	}
	if err := v.checkCheckpoint(ctx); err != nil || !r.OK {
		return err
	}
	return v.checkAnchor(ctx)
}

// walk verifies the events from seq expect on, the first linking to prev. The event at
// the recorded head must carry the recorded hash.
func (v *verifier) walk(ctx context.Context, expect int64, prev string, headSeq int64, headHash string) error {
	r := v.r
	progress := func() {
		if v.o.Progress != nil {
			v.o.Progress(Progress{TenantID: r.TenantID, Checked: r.Checked, Seq: r.Head, Head: headSeq})
		}
	}
	progress()
	errStop := errors.New("stop")
	err := v.st.StreamAudit(ctx, store.AuditQuery{TenantID: r.TenantID, AfterSeq: expect - 1}, func(e *store.AuditEvent) error {
		switch {
		case e.Seq != expect:
			r.fail(expect, e.ID, "events %d to %d are missing before event %s", expect, e.Seq-1, e.ID)
		case e.PrevHash != prev:
			r.fail(e.Seq, e.ID, "event %s (seq %d) does not link to the previous event's hash", e.ID, e.Seq)
		case store.ChainHash(prev, e) != e.Hash:
			r.fail(e.Seq, e.ID, "event %s (seq %d) was altered: its content does not match its hash", e.ID, e.Seq)
		case e.Seq == headSeq && e.Hash != headHash:
			r.fail(e.Seq, e.ID, "event %s (seq %d) disagrees with the chain's recorded head", e.ID, e.Seq)
		default:
			r.Checked++
			r.Head, expect, prev = e.Seq, e.Seq+1, e.Hash
			if r.Checked%v.o.ProgressEvery == 0 {
				progress()
			}
			return nil
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	return nil
}

// checkCheckpoint holds the chain against its newest signed checkpoint: the chain must
// reach it and agree with it. A chain without any checkpoint verifies, with a warning.
func (v *verifier) checkCheckpoint(ctx context.Context) error {
	r := v.r
	cp, err := v.st.LatestCheckpoint(ctx, r.TenantID)
	if errors.Is(err, store.ErrNotFound) {
		if r.Head > 0 {
			r.warn("tenant %s: the chain has events but no signed checkpoint, so deleting its newest events would go unnoticed (is the audit signing key configured?)", r.TenantID)
		}
		return nil
	}
	if err != nil {
		return err
	}
	r.CheckpointSeq = cp.Seq
	if err := VerifyCheckpoint(cp, v.o.Trusted); err != nil {
		r.fail(cp.Seq, "", "%v", err)
		return nil
	}
	if v.base != nil && cp.Seq < v.base.Seq {
		return nil // it vouches for pruned events; checkBase has already checked the base
	}
	if cp.Seq > r.Head {
		r.fail(r.Head+1, "", "events %d to %d are missing: the chain ends at %d but a checkpoint signed at %s vouches for %d (truncated)",
			r.Head+1, cp.Seq, r.Head, cp.SignedAt.Format("2006-01-02T15:04:05Z07:00"), cp.Seq)
		return nil
	}
	e, err := eventAt(ctx, v.st, r.TenantID, cp.Seq)
	if err != nil {
		return err
	}
	if e == nil || e.Hash != cp.Hash {
		r.fail(cp.Seq, "", "the chain disagrees with the signed checkpoint at seq %d", cp.Seq)
		return nil
	}
	v.cp = cp
	return nil
}

// checkAnchor holds the chain against the newest checkpoint a witness holds for it.
func (v *verifier) checkAnchor(ctx context.Context) error {
	r := v.r
	if problems := v.o.Anchors.Problems(r.TenantID); len(problems) > 0 {
		r.fail(0, "", "%s", problems[0])
		for _, p := range problems[1:] {
			r.warn("tenant %s: %s", r.TenantID, p)
		}
		return nil
	}
	a := v.o.Anchors.Newest(r.TenantID)
	if a == nil {
		return nil
	}
	r.AnchorSeq = a.Seq
	signed := a.SignedAt.Format("2006-01-02T15:04:05Z07:00")
	switch {
	case a.Seq > r.Head:
		r.fail(r.Head+1, "", "events %d to %d are missing: the chain ends at %d but the anchor holds a checkpoint of seq %d signed at %s (truncated)",
			r.Head+1, a.Seq, r.Head, a.Seq, signed)
	case v.base != nil && a.Seq == v.base.Seq-1:
		if a.Hash != v.base.PrevHash {
			r.fail(v.base.Seq, "", "the pruned chain's start disagrees with the anchor's checkpoint of seq %d signed at %s (rewritten)", a.Seq, signed)
		}
	case v.base != nil && a.Seq < v.base.Seq:
		r.warn("tenant %s: the anchor's newest checkpoint (seq %d) is older than the pruned chain's start (seq %d) and vouches for none of its events",
			r.TenantID, a.Seq, v.base.Seq)
	default:
		e, err := eventAt(ctx, v.st, r.TenantID, a.Seq)
		if err != nil {
			return err
		}
		if e == nil || e.Hash != a.Hash {
			r.fail(a.Seq, "", "the chain disagrees with the anchor's checkpoint of seq %d signed at %s (rewritten)", a.Seq, signed)
		}
	}
	return nil
}

// resume returns the verified checkpoint an incremental walk may start after, or nil
// (with a warning saying why) for a walk from the start.
func (v *verifier) resume(ctx context.Context) (*store.AuditCheckpoint, error) {
	r := v.r
	vs, ok := v.st.(store.AuditVerifiedStore)
	if !ok {
		r.warn("tenant %s: this store keeps no record of earlier verifications; verified in full", r.TenantID)
		return nil, nil
	}
	rec, err := vs.AuditVerified(ctx, r.TenantID)
	if errors.Is(err, store.ErrNotFound) || err == nil && rec.Seq == 0 {
		r.warn("tenant %s: no earlier verification is recorded; verified in full", r.TenantID)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if v.base != nil && rec.Seq < v.base.Seq {
		return nil, nil // pruned past it: the walk from the base is all there is
	}
	cp, err := v.st.GetCheckpoint(ctx, r.TenantID, rec.Seq)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var e *store.AuditEvent
	if err == nil && cp.Hash == rec.Hash && VerifyCheckpoint(cp, v.o.Trusted) == nil {
		if e, err = eventAt(ctx, v.st, r.TenantID, rec.Seq); err != nil {
			return nil, err
		}
	}
	if e == nil || e.Hash != rec.Hash {
		r.warn("tenant %s: the recorded verification (seq %d) does not match a trusted signed checkpoint and the chain; verified in full", r.TenantID, rec.Seq)
		return nil, nil
	}
	return cp, nil
}

// remember records the newest checkpoint a successful verification confirmed, and
// forgets the record when verification fails, so that an incremental verification never
// starts after a break.
func (v *verifier) remember(ctx context.Context) error {
	vs, ok := v.st.(store.AuditVerifiedStore)
	if !ok {
		return nil
	}
	switch {
	case !v.r.OK:
		return vs.SaveAuditVerified(ctx, &store.AuditVerified{TenantID: v.r.TenantID})
	case v.cp != nil && v.cp.Seq > v.r.From:
		return vs.SaveAuditVerified(ctx, &store.AuditVerified{TenantID: v.r.TenantID, Seq: v.cp.Seq, Hash: v.cp.Hash})
	}
	return nil
}

// eventAt returns the tenant's event at seq, or nil.
func eventAt(ctx context.Context, st store.AuditStore, tenantID string, seq int64) (*store.AuditEvent, error) {
	var found *store.AuditEvent
	err := st.StreamAudit(ctx, store.AuditQuery{TenantID: tenantID, AfterSeq: seq - 1, Limit: 1}, func(e *store.AuditEvent) error {
		if e.Seq == seq {
			found = e
		}
		return nil
	})
	return found, err
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
