package kavach

import (
	"context"
	"fmt"
	"slices"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
)

var _ api.AuditVerifier = (*auditService)(nil)

// VerifyWith walks the chains the caller may verify: with an anchor (a witness file's
// checkpoints), incrementally from the last verified checkpoint, and with progress
// reports, as opts asks.
func (a *auditService) VerifyWith(ctx context.Context, opts api.AuditVerifyOptions) (*api.AuditReport, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.Role == api.RoleUser {
		return nil, api.Errorf(api.CodeForbidden, "verifying the ledger needs an admin, app or root caller")
	}
	var anchors *audit.Anchors
	if opts.Anchor != nil {
		if anchors, err = audit.ReadAnchors(opts.Anchor, a.trusted); err != nil {
			return nil, invalidField("anchor", "%v", err)
		}
	}
	tenants, err := a.verifiedTenants(ctx, act, opts.TenantID, anchors)
	if err != nil {
		return nil, err
	}
	out := &api.AuditReport{OK: true, Warnings: anchors.Warnings()}
	if len(a.trusted) == 0 {
		out.Warnings = append(out.Warnings, "no audit key is trusted, so no checkpoint can vouch for a chain: "+
			"configure the signing key (KAVACH_AUDIT_SIGNING_KEY) or the trusted keys (KAVACH_AUDIT_TRUSTED_KEYS)")
	}
	vo := audit.VerifyOptions{Trusted: a.trusted, Anchors: anchors, Incremental: opts.Incremental}
	if opts.Progress != nil {
		vo.Progress = func(p audit.Progress) {
			opts.Progress(api.AuditProgress{TenantID: p.TenantID, Checked: p.Checked, Seq: p.Seq, Head: p.Head})
		}
	}
	for _, t := range tenants {
		r, err := audit.VerifyWith(ctx, a.k.store, t, vo)
		if err != nil {
			return nil, apiError(fmt.Errorf("verify %s: %w", t, err))
		}
		out.Checked += r.Checked
		out.Warnings = append(out.Warnings, r.Warnings...)
		if !r.OK && out.OK {
			out.OK, out.FirstBrokenID, out.FirstBrokenSeq, out.TenantID, out.Problem = false, r.FirstBrokenID, r.FirstBrokenSeq, t, r.Problem
		}
	}
	return out, nil
}

// verifiedTenants lists the chains to walk: the one asked for, the caller's, or for root
// every chain in the ledger and every tenant the anchor names (a chain deleted whole is
// still one to verify).
func (a *auditService) verifiedTenants(ctx context.Context, act api.Actor, tenantID string, anchors *audit.Anchors) ([]string, error) {
	switch {
	case tenantID != "":
		t, err := tenantFor(act, tenantID)
		if err != nil {
			return nil, err
		}
		return []string{t}, nil
	case act.Role == api.RoleRoot:
		tenants, err := a.k.store.AuditTenants(ctx)
		if err != nil {
			return nil, apiError(err)
		}
		for _, t := range anchors.Tenants() {
			if !slices.Contains(tenants, t) {
				tenants = append(tenants, t)
			}
		}
		slices.Sort(tenants)
		return tenants, nil
	}
	return []string{act.TenantID}, nil
}
