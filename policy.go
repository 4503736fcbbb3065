package kavach

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/lifecycle"
	"github.com/kavachos/kavach-go/replay"
	"github.com/kavachos/kavach-go/store"
)

// PolicyConfig says where custom rules (package kavach.custom) come from.
type PolicyConfig struct {
	// Dir holds custom rules and data laid out like a bundle source (kavach/custom/…).
	Dir string
	// Bundle is a bundle file, an unpacked bundle directory or an http(s) URL polled every
	// PollInterval (default 30s); its revisions replace Dir's.
	Bundle       string
	PollInterval time.Duration
	// VerificationKey, when set, must have signed every bundle: a PEM public key or an HMAC
	// secret, inline or as a file path. KeyID, Alg (one of engine.BundleAlgs) and Scope as
	// when it was signed (defaults: "kavach", the key's own algorithm, no scope).
	VerificationKey string
	KeyID           string
	Alg             string
	Scope           string
	// Shadow is a candidate revision (a bundle file, directory or http(s) URL, verified
	// like Bundle) evaluated beside the active one on a sample of real calls, off the
	// request path: it never changes an answer, charges no rate slot and opens no approval
	// request. Disagreements are counted (PolicyStatus, metrics) and recorded as
	// policy.shadow_disagreement audit events, at most one a second for each pair of
	// codes. It is read once, at start.
	Shadow string
	// ShadowSample is the fraction of calls the shadow evaluates, in (0, 1] (default 1).
	ShadowSample float64
	// ShadowQueue bounds the calls waiting for the shadow (default 1024); a call offered
	// to a full queue is dropped and counted.
	ShadowQueue int
}

// bundleKey is the key every bundle must be signed with, if one is configured.
func (pc PolicyConfig) bundleKey() *engine.BundleKey {
	if pc.VerificationKey == "" {
		return nil
	}
	return &engine.BundleKey{Key: pc.VerificationKey, KeyID: pc.KeyID, Alg: pc.Alg, Scope: pc.Scope}
}

// Load reads, once, the custom rules a server with this configuration activates: the
// bundle's current revision (verified as the server verifies it) if a bundle is
// configured, else the policy directory; nil when there are neither. It activates
// nothing: engine.CheckPolicySet or an engine's Activate runs the activation checks.
func (pc PolicyConfig) Load(ctx context.Context) (*engine.PolicySet, error) {
	if pc.Bundle != "" {
		return engine.LoadBundle(ctx, engine.BundleSource{Location: pc.Bundle, Key: pc.bundleKey()})
	}
	return customPolicy(pc)
}

// customPolicy reads the policy directory, if any, as the first custom revision.
func customPolicy(pc PolicyConfig) (*engine.PolicySet, error) {
	if pc.Dir == "" {
		return nil, nil
	}
	return engine.LoadPolicyDir(pc.Dir)
}

// startBundles starts polling the configured bundle source.
func (k *Kavach) startBundles(ctx context.Context, pc PolicyConfig) error {
	if pc.Bundle == "" {
		return nil
	}
	k.bundles = engine.NewBundleLoader(k.engine, engine.BundleSource{
		Location: pc.Bundle, Key: pc.bundleKey(), PollInterval: pc.PollInterval, Logger: k.log,
	})
	return k.parts.Start(ctx, k.bundles)
}

// PolicyStatus reports the active policy revision; any authenticated caller may read it.
func (k *Kavach) PolicyStatus(ctx context.Context) (*api.PolicyStatus, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	st := k.engine.Status()
	st.BundleLoaded = k.bundles == nil || k.bundles.Loaded()
	if sh := k.engine.ShadowStatus(); sh != nil {
		// The counts say nothing about anyone; the examples name agents and calls, so each
		// caller sees only those it could read in the ledger.
		seen := sh.Examples[:0]
		for _, d := range sh.Examples {
			if act.Role == api.RoleRoot || (d.TenantID == act.TenantID && (act.Role != api.RoleUser || d.OwnerID == act.OwnerID)) {
				seen = append(seen, d)
			}
		}
		sh.Examples = seen
		st.Shadow = sh
	}
	return &st, nil
}

// startShadow loads the shadow revision, if one is configured, and starts evaluating it.
func (k *Kavach) startShadow(ctx context.Context, pc PolicyConfig) error {
	if pc.Shadow == "" {
		return nil
	}
	if pc.ShadowSample < 0 || pc.ShadowSample > 1 {
		return fmt.Errorf("shadow sample %v: want a fraction in (0, 1]", pc.ShadowSample)
	}
	ps, err := engine.LoadBundle(ctx, engine.BundleSource{Location: pc.Shadow, Key: k.bundleKey})
	if err != nil {
		return fmt.Errorf("shadow bundle: %w", err)
	}
	rev, err := k.engine.Prepare(ctx, ps)
	if err != nil {
		return fmt.Errorf("shadow bundle: %w", err)
	}
	return k.parts.StartAdvisory(ctx, &shadowPart{k: k, cfg: engine.ShadowConfig{
		Revision: rev, Sample: pc.ShadowSample, QueueSize: pc.ShadowQueue,
		OnDisagreement: func(d api.ShadowDisagreement) { k.recordDisagreement(d, rev.Name) },
	}})
}

// recordDisagreement writes a shadow disagreement to the ledger. It never holds up a
// decision: it runs on the shadow's goroutine.
func (k *Kavach) recordDisagreement(d api.ShadowDisagreement, shadowRevision string) {
	ev := &store.AuditEvent{
		ID: audit.NewID(), Time: k.clock(), TenantID: d.TenantID, Kind: audit.KindManagement, AgentID: d.AgentID,
		OwnerID: d.OwnerID, Actor: "policy.shadow", Action: ActionShadowDisagreement, Resource: d.Resource,
		Result: audit.ResultOK, Revision: d.ActiveRevision,
		Arguments: map[string]any{
			"action": d.Action, "callTime": d.Time.Format(time.RFC3339Nano), "activeCode": string(d.ActiveCode),
			"shadowCode": string(d.ShadowCode), "shadowReason": d.ShadowReason, "shadowRevision": shadowRevision,
			"rules": d.Rules,
		},
	}
	if ev.TenantID == "" {
		ev.TenantID = agent.DefaultTenant
	}
	if err := k.recorder.Record(context.Background(), ev); err != nil {
		k.log.Warn("shadow disagreement not recorded", "agent", d.AgentID, "error", err)
	}
}

// ActionShadowDisagreement is the audit action of a shadow disagreement.
const ActionShadowDisagreement = "policy.shadow_disagreement"

// shadowPart runs shadow evaluation as a part of the instance.
type shadowPart struct {
	lifecycle.Reporter
	k    *Kavach
	cfg  engine.ShadowConfig
	stop func()
}

func (p *shadowPart) Name() string { return "policy.shadow" }

func (p *shadowPart) Start(context.Context) error {
	p.stop = p.k.engine.StartShadow(p.cfg)
	p.Set(lifecycle.OK, "evaluating revision "+p.cfg.Revision.Name)
	return nil
}

func (p *shadowPart) Stop(context.Context) error {
	p.stop()
	return nil
}

// replayer checks that the caller may replay: root only. A candidate's custom rules read
// every tenant's agents (data.kavach.agents), and its reasons reach the report, so running
// one on the server is for whoever may change the deployment's policy; a tenant admin
// replays its own tenant offline, from a replay export.
func replayer(ctx context.Context) (api.Actor, error) {
	act, err := actor(ctx)
	if err == nil && act.Role != api.RoleRoot {
		err = api.Errorf(api.CodeForbidden, "replaying the ledger runs custom rules over every tenant's agents: it needs a root caller "+
			"(a tenant admin can replay an export of its tenant offline: kavach audit export --format replay, then kavach policy replay --ledger)")
	}
	return act, err
}

// ReplayBundle is ReplayPolicy for a candidate given as a bundle archive (.tar.gz), which
// must be signed as every bundle this instance loads must be.
func (k *Kavach) ReplayBundle(ctx context.Context, req api.ReplayRequest, bundle io.Reader) (*api.ReplayReport, error) {
	if _, err := replayer(ctx); err != nil {
		return nil, err
	}
	ps, err := engine.ReadBundle(bundle, k.bundleKey)
	if err != nil {
		e := api.Errorf(api.CodeInvalidInput, "the candidate bundle was refused: %v", err)
		e.Field = "bundle"
		return nil, e
	}
	return k.ReplayPolicy(ctx, req, ps)
}

// ReplayPolicy re-decides the recorded decisions req selects under the active revision and
// under candidate, and reports what the candidate would change. Nothing is charged, opened
// or recorded. Only root may replay (see replayer); the candidate must pass every check
// activation would run.
func (k *Kavach) ReplayPolicy(ctx context.Context, req api.ReplayRequest, candidate *engine.PolicySet) (*api.ReplayReport, error) {
	act, err := replayer(ctx)
	if err != nil {
		return nil, err
	}
	if (req.FromSeq < 0 || req.ToSeq < 0) || (req.ToSeq > 0 && req.ToSeq < req.FromSeq) {
		return nil, invalidField("toSeq", "the seq range %d to %d is empty or negative", req.FromSeq, req.ToSeq)
	}
	if req.Limit < 0 || req.Top < 0 {
		return nil, invalidField("limit", "limit and top may not be negative")
	}
	var tenants []string
	switch {
	case req.TenantID != "":
		t, err := tenantFor(act, req.TenantID)
		if err != nil {
			return nil, err
		}
		tenants = []string{t}
	case req.FromSeq > 0 || req.ToSeq > 0:
		return nil, invalidField("tenantId", "a seq range needs a tenant: each tenant's chain counts on its own")
	default:
		if tenants, err = k.store.AuditTenants(ctx); err != nil {
			return nil, err
		}
	}
	rev, err := k.engine.Prepare(ctx, candidate)
	if err != nil {
		e := api.Errorf(api.CodeInvalidInput, "the candidate revision was refused: %v", err)
		e.Field = "bundle"
		return nil, e
	}
	r := &replay.Replayer{Engine: k.engine, Candidate: rev, Top: req.Top}
	return r.Run(ctx, replay.FromStore(k.store, tenants, req.Since, req.FromSeq, req.ToSeq), req.Limit)
}
