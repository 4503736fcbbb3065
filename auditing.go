package kavach

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/replay"
	"github.com/kavachos/kavach-go/store"
)

// AuditConfig configures the audit ledger.
type AuditConfig struct {
	// Sync makes authorize return only after its event is committed.
	Sync bool
	// QueueSize bounds the events waiting to be written (default 10,000); when the queue
	// stays full for EnqueueTimeout (default 1s) the decision fails closed.
	QueueSize      int
	EnqueueTimeout time.Duration
	// Mask lists top-level argument names whose values are never stored.
	Mask []string
	// SigningKey is a base64 Ed25519 seed for checkpoint signatures. Every instance and
	// CLI sharing a database must use the same. Empty: read SigningKeyFile.
	SigningKey string
	// SigningKeyFile holds that seed. With SQLite it defaults to kavach-audit.key beside
	// the database and is created on first use. A shared database (Postgres) has no
	// default: without SigningKey or an existing SigningKeyFile, no checkpoints are
	// signed, verification trusts only TrustedKeys, and pruning is refused.
	SigningKeyFile string
	// TrustedKeys are further base64 public keys whose checkpoints Verify accepts (for
	// example, keys rotated out).
	TrustedKeys []string
	// WitnessFile, if set, receives every signed checkpoint as one JSON line as well, so
	// that the checkpoints also exist outside the database (see audit.FileWitness);
	// Witness is any other witness, and wins over WitnessFile. A witness that fails is
	// logged and counted (AuditWitnessFailures); it never holds up a decision.
	WitnessFile string
	Witness     audit.Witness
	// CheckpointInterval is how often chain heads are signed (default 10s).
	CheckpointInterval time.Duration
	// BatchWait is how long the asynchronous writer waits for more events before it
	// commits a batch (default 2ms; negative never waits). Longer waits make larger
	// batches, at the cost of events waiting in memory a little longer.
	BatchWait time.Duration
	// InvalidTokenInterval aggregates invalid-token events per source (default 10s;
	// negative turns aggregation off).
	InvalidTokenInterval time.Duration
	// SpoolFile is where a stop that cannot commit queued events in time writes them, for
	// the next start to commit first (default kavach-audit.spool beside a SQLite database,
	// or in the working directory).
	SpoolFile string
	// KafkaBrokers turns on the Kafka stream: one relay per cluster (a lease in the store)
	// publishes the ledger to KafkaTopic (default kavach.audit), at least once.
	KafkaBrokers []string
	KafkaTopic   string
}

type auditService struct {
	k        *Kavach
	pipeline *audit.Pipeline
	relay    *audit.Relay
	signer   *audit.Signer
	trusted  []string
}

// startAudit sets up the signing key and the ledger pipeline.
func (k *Kavach) startAudit(cfg Config) error {
	ac := cfg.Audit
	signer, trusted, err := auditSigner(ac, cfg.Database, k.now, k.log)
	if err != nil {
		return err
	}
	k.audit = &auditService{k: k, signer: signer, trusted: trusted}
	if k.recorder != nil {
		return nil
	}
	if len(ac.KafkaBrokers) > 0 {
		relay, err := audit.NewRelay(k.store, audit.RelayConfig{Brokers: ac.KafkaBrokers, Topic: ac.KafkaTopic, Logger: k.log})
		if err == nil {
			err = k.parts.StartAdvisory(context.Background(), relay)
		}
		if err != nil {
			return fmt.Errorf("kafka relay: %w", err)
		}
		k.audit.relay = relay
	}
	spool := ac.SpoolFile
	if spool == "" {
		spool = besideDatabase(cfg.Database, "kavach-audit.spool")
	}
	k.audit.pipeline = audit.NewPipeline(audit.Config{
		Store: k.store, QueueSize: ac.QueueSize, EnqueueTimeout: ac.EnqueueTimeout, Sync: ac.Sync, BatchWait: ac.BatchWait,
		Mask: ac.Mask, InvalidTokenInterval: ac.InvalidTokenInterval, Signer: signer,
		CheckpointInterval: ac.CheckpointInterval, SpoolFile: spool, Logger: k.log,
	})
	if err := k.parts.Start(context.Background(), k.audit.pipeline); err != nil {
		return err
	}
	k.recorder = k.audit.pipeline
	return nil
}

// besideDatabase is where a file that belongs with the database lives: beside a SQLite
// file, or in the working directory for a server database.
func besideDatabase(database, name string) string {
	if database == "" {
		database = DefaultDatabase
	}
	if db, ok := strings.CutPrefix(database, "sqlite://"); ok {
		return filepath.Join(filepath.Dir(db), name)
	}
	return name
}

// RelayLeading reports whether this instance's Kafka relay holds the cluster's lease.
func (k *Kavach) RelayLeading() bool {
	return k.audit.relay != nil && k.audit.relay.State() == audit.RelayLeading
}

// RelayLag returns how many committed events the Kafka relay has yet to publish (0 when
// Kafka is off).
func (k *Kavach) RelayLag(ctx context.Context) (int64, error) {
	if k.audit.relay == nil {
		return 0, nil
	}
	return k.audit.relay.Lag(ctx)
}

// Audit returns the audit API.
func (k *Kavach) Audit() api.Audit { return k.audit }

// AuditStats returns the ledger pipeline's counters (zero when a custom recorder is used).
func (k *Kavach) AuditStats() audit.Stats {
	if k.audit.pipeline == nil {
		return audit.Stats{}
	}
	return k.audit.pipeline.Stats()
}

// Checkpoint signs the current head of every chain now (retention and tests use it; the
// pipeline does it on its own schedule).
func (k *Kavach) Checkpoint(ctx context.Context) error {
	if k.audit.signer == nil {
		return errNoSigningKey
	}
	tenants, err := k.store.AuditTenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range tenants {
		if err := k.audit.signer.Checkpoint(ctx, k.store, t); err != nil {
			return err
		}
	}
	return nil
}

// manage returns the event recording a management action by the actor. It is written in
// the same transaction as the change it describes: the caller attaches it to the one store
// write that makes the change (store.WithAudit), so that a change whose event cannot be
// written is not made. What only the stored object tells (its tenant, a summary before the
// change) may be filled in by the write's update function. It never goes through the
// pipeline, so Audit.Mask, which is for decision arguments, does not apply to it.
func (k *Kavach) manage(act api.Actor, action, tenant, agentID, ownerID, object string, details map[string]any) *store.AuditEvent {
	return &store.AuditEvent{
		ID: audit.NewID(), Time: k.clock(), TenantID: tenant, Kind: audit.KindManagement, AgentID: agentID,
		OwnerID: ownerID, Actor: actorName(act), Action: action, Resource: object, Arguments: details,
		Result: audit.ResultOK,
	}
}

// managed tells the pipeline that e was committed outside it, so that the next checkpoint
// covers e's chain.
func (k *Kavach) managed(e *store.AuditEvent) {
	if k.audit.pipeline != nil {
		k.audit.pipeline.Touch(e.TenantID)
	}
}

// queryFor turns an API query into a store query for the actor, and the resource filter.
func (a *auditService) queryFor(act api.Actor, q api.AuditQuery) (store.AuditQuery, func(*store.AuditEvent) bool, error) {
	tenant, err := tenantFor(act, q.TenantID)
	if err != nil {
		return store.AuditQuery{}, nil, err
	}
	owner := q.OwnerID
	if act.Role == api.RoleUser {
		if owner != "" && owner != act.OwnerID {
			return store.AuditQuery{}, nil, api.Errorf(api.CodeForbidden, "a user may read only its own agents' events")
		}
		owner = act.OwnerID
	}
	sq := store.AuditQuery{TenantID: tenant, AgentID: q.AgentID, OwnerID: owner, Action: q.Action,
		Result: q.Result, Code: q.Code, TraceID: strings.ToLower(q.TraceID), Desc: q.Order != "asc",
		AfterSeq: max(q.AfterSeq, 0)}
	if sq.TraceID != "" && !store.ValidTraceID(sq.TraceID) {
		return sq, nil, invalidField("traceId", "%q is not a W3C trace id (32 hex digits, not all zeros)", q.TraceID)
	}
	switch q.Order {
	case "", "asc", "desc":
	default:
		return sq, nil, invalidField("order", "%q is not asc or desc", q.Order)
	}
	if q.Since != nil {
		sq.Since = *q.Since
	}
	if q.Until != nil {
		sq.Until = *q.Until
	}
	var keep func(*store.AuditEvent) bool
	if q.Resource != "" {
		if err := agent.ValidateResourcePattern(q.Resource); err != nil {
			return sq, nil, invalidField("resource", "%v", err)
		}
		keep = func(e *store.AuditEvent) bool { return agent.MatchResource(q.Resource, e.Resource) }
	}
	return sq, keep, nil
}

var errPageFull = errors.New("page full")

func (a *auditService) Query(ctx context.Context, q api.AuditQuery) (*api.AuditPage, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	sq, keep, err := a.queryFor(act, q)
	if err != nil {
		return nil, err
	}
	if q.Limit < 0 || q.Limit > api.MaxLimit {
		return nil, invalidField("limit", "must be between 1 and %d", api.MaxLimit)
	}
	limit := store.PageLimit(q.Limit)
	if q.Cursor != "" {
		seq, err := decodeAuditCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		if sq.Desc {
			sq.BeforeSeq = seq
		} else {
			sq.AfterSeq = seq
		}
	}
	page := &api.AuditPage{Events: []agent.AuditEvent{}}
	var last int64
	more := false
	err = a.k.store.StreamAudit(ctx, sq, func(e *store.AuditEvent) error {
		if keep != nil && !keep(e) {
			return nil
		}
		if len(page.Events) == limit {
			more = true
			return errPageFull
		}
		page.Events = append(page.Events, *e)
		last = e.Seq
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return nil, apiError(err)
	}
	if more {
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last, 10)))
	}
	return page, nil
}

func decodeAuditCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if seq, err := strconv.ParseInt(string(b), 10, 64); err == nil && seq > 0 {
			return seq, nil
		}
	}
	return 0, invalidField("cursor", "invalid cursor: pass nextCursor from the previous page")
}

func (a *auditService) Export(ctx context.Context, q api.AuditQuery, format string, w io.Writer) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if !audit.ValidFormat(format) && format != replay.Format {
		return invalidField("format", "%q is not json, ndjson, csv or replay", format)
	}
	sq, keep, err := a.queryFor(act, q)
	if err != nil {
		return err
	}
	if q.Order == "" {
		sq.Desc = false // exports read oldest first unless asked otherwise
	}
	if format == replay.Format {
		// A replay file carries the tenant's agents and their permissions as well.
		if act.Role != api.RoleRoot && act.Role != api.RoleAdmin {
			return api.Errorf(api.CodeForbidden, "a replay export holds every agent of the tenant: it needs a root or admin caller")
		}
		_, err = replay.WriteExport(ctx, a.k.store, sq, keep, a.k.clock(), w)
		return err
	}
	_, err = audit.Export(ctx, a.k.store, sq, format, keep, w)
	return err
}

func (a *auditService) Verify(ctx context.Context, tenantID string) (*api.AuditReport, error) {
	return a.VerifyWith(ctx, api.AuditVerifyOptions{TenantID: tenantID})
}

// agentSummary is what management events record of an agent: never its token.
func agentSummary(a *agent.Agent) map[string]any {
	perms := make([]any, len(a.Permissions))
	for i, p := range a.Permissions {
		perms[i] = map[string]any{"id": p.ID, "resource": p.Resource, "actions": p.Actions}
	}
	out := map[string]any{"name": a.Name, "type": string(a.Type), "status": string(a.Status), "permissions": perms}
	if a.ExpiresAt != nil {
		out["expiresAt"] = a.ExpiresAt.Format(time.RFC3339)
	}
	return out
}

// PruneAudit deletes a tenant's events older than before, keeping the chain verifiable:
// the last pruned event's hash is first vouched for by a signed checkpoint, the chain's new
// base is recorded, and the pruning itself is audited. Only root and the tenant's admins
// may prune. It returns the first retained seq.
func (k *Kavach) PruneAudit(ctx context.Context, tenantID string, before time.Time) (int64, error) {
	act, err := actor(ctx)
	if err != nil {
		return 0, err
	}
	if act.Role != api.RoleRoot && act.Role != api.RoleAdmin {
		return 0, api.Errorf(api.CodeForbidden, "pruning the ledger needs a root or admin caller")
	}
	tenant, err := tenantFor(act, tenantID)
	if err != nil {
		return 0, err
	}
	if k.audit.signer == nil {
		return 0, errNoSigningKey
	}
	// The first event at or after the cut is the new base; nothing newer is touched.
	var first int64
	err = k.store.StreamAudit(ctx, store.AuditQuery{TenantID: tenant, Since: before, Limit: 1}, func(e *store.AuditEvent) error {
		first = e.Seq
		return nil
	})
	if err != nil {
		return 0, apiError(err)
	}
	if first == 0 { // everything is older: keep the head
		if first, _, err = k.store.AuditHead(ctx, tenant); err != nil {
			return 0, apiError(err)
		}
	}
	if first <= 1 {
		return first, nil
	}
	var last *store.AuditEvent
	err = k.store.StreamAudit(ctx, store.AuditQuery{TenantID: tenant, BeforeSeq: first, Desc: true, Limit: 1}, func(e *store.AuditEvent) error {
		last = e
		return nil
	})
	if err != nil || last == nil {
		return 0, apiError(err)
	}
	if err := k.audit.signer.Save(ctx, k.store, k.audit.signer.Sign(tenant, last.Seq, last.Hash)); err != nil {
		return 0, apiError(err)
	}
	// The pruning and the event that records it commit together.
	e := k.manage(act, "audit.prune", tenant, "", "", "audit:"+tenant,
		map[string]any{"before": before.UTC().Format(time.RFC3339), "firstRetainedSeq": first})
	base, err := k.store.PruneAudit(store.WithAudit(ctx, e), tenant, first, k.clock())
	if err != nil {
		return 0, apiError(err)
	}
	k.managed(e)
	return base.Seq, nil
}
