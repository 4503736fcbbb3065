// Package kavach is the embedded SDK: Open a store and manage agents, in-process, through
// the same api.Kavach interface the HTTP client implements.
//
//	k, err := kavach.Open(ctx, kavach.Config{Database: "sqlite://kavach.db"})
//	ctx = kavach.WithActor(ctx, api.Actor{Role: api.RoleAdmin, TenantID: "default"})
//	created, err := k.Agents().Create(ctx, api.CreateAgentRequest{...})
package kavach

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	_ "time/tzdata" // time windows name IANA zones; do not depend on the host's zoneinfo

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/decisionlog"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/lifecycle"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres"
	"github.com/kavachos/kavach-go/store/sqlite"
	"github.com/kavachos/kavach-go/webhook"
)

// DefaultDatabase is the embedded default: a SQLite file in the working directory.
const DefaultDatabase = "sqlite://kavach.db"

// Config configures an embedded Kavach.
type Config struct {
	// Database is "sqlite://PATH" (relative, or absolute as sqlite:///abs/path) or a
	// "postgres://" URL. Empty means DefaultDatabase.
	Database string
	// Now is the clock; nil means time.Now. Tests set it to move time.
	Now func() time.Time
	// Logger receives operational logs; nil means slog.Default().
	Logger *slog.Logger
	// PendingApprovalTTL is how long an approval request waits for a human (default 15m).
	PendingApprovalTTL time.Duration
	// ApprovalWebhook, if its URL is set, announces each new approval request with an
	// HMAC-signed POST (event type "approval.requested").
	ApprovalWebhook webhook.Config
	// Audit configures the audit ledger.
	Audit AuditConfig
	// Policy says where custom rules come from.
	Policy PolicyConfig
	// Staleness bounds how long an instance sharing Postgres keeps deciding from its
	// compiled state after losing the change feed, before failing closed (default 30s).
	Staleness time.Duration
	// Recorder, if set, receives decision events instead of the ledger pipeline (tests).
	// Management events are written with the change they describe, whatever this is.
	Recorder audit.Recorder
	// SecretCacheSize caps how many agent tokens, and how many API keys, are kept resolved
	// in memory (default DefaultSecretCacheSize each); negative turns both caches off.
	SecretCacheSize int
	// DecisionTimeout bounds the policy evaluation of one authorize call (default
	// engine.DefaultDecisionTimeout, 1s); past it the decision fails closed with
	// ENGINE_ERROR.
	DecisionTimeout time.Duration
	// DecisionMemo is how many of the policy's answers the engine remembers for calls that
	// repeat (default engine.DefaultDecisionMemo; negative: none). An answer is reused only
	// while nothing it depends on can have changed (engine/memo.go).
	DecisionMemo int
	// DecisionLog, if its URL is set, also sends each decision as an OPA decision-log event
	// to a service speaking OPA's decision-log upload protocol (docs/decision-logs.md). It is
	// an export: its receiver being down never fails or delays a decision.
	DecisionLog decisionlog.Config
}

// Kavach is an open Kavach instance. It is safe for concurrent use.
type Kavach struct {
	store     store.Store
	now       func() time.Time
	log       *slog.Logger
	engine    *engine.Engine
	recorder  audit.Recorder
	notifier  *webhook.Notifier
	bundles   *engine.BundleLoader
	bundleKey *engine.BundleKey // what every bundle, candidates included, must be signed with
	feed      *feed
	parts     lifecycle.Group // the long-running parts, started in order and stopped in reverse
	audit     *auditService
	agents    *agentService
	tenants   *tenantService
	approvals *approvalService
	delegs    *delegationService
	tokens    *secretCache[tokenHolder]
	keys      *secretCache[keyHolder]
	// decisionLog exports decisions as OPA decision-log events; nil when off.
	decisionLog *decisionlog.Sink
}

var _ api.Kavach = (*Kavach)(nil)

// Open opens the configured database, migrating its schema, and returns a Kavach over it.
func Open(ctx context.Context, cfg Config) (*Kavach, error) {
	s, err := OpenStore(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	k := &Kavach{store: s, now: cfg.Now, log: cfg.Logger, recorder: cfg.Recorder,
		tokens: newSecretCache[tokenHolder](cfg.SecretCacheSize), keys: newSecretCache[keyHolder](cfg.SecretCacheSize)}
	if k.now == nil {
		k.now = time.Now
	}
	if k.log == nil {
		k.log = slog.Default()
	}
	if err := k.startAudit(cfg); err != nil {
		k.parts.Stop(context.Background(), StopBudget)
		s.Close()
		return nil, err
	}
	k.agents = &agentService{k: k}
	k.tenants = &tenantService{k: k}
	k.approvals = &approvalService{k: k}
	k.delegs = &delegationService{k: k}
	if err := k.start(ctx, cfg); err != nil {
		k.parts.Stop(context.Background(), StopBudget)
		s.Close()
		return nil, err
	}
	return k, nil
}

// start starts the decision-log export and the approval webhook, if any, and builds the
// engine over every stored agent.
func (k *Kavach) start(ctx context.Context, cfg Config) error {
	if err := k.startDecisionLog(ctx, cfg); err != nil {
		return err
	}
	if cfg.ApprovalWebhook.URL != "" {
		wc := cfg.ApprovalWebhook
		if wc.Logger == nil {
			wc.Logger = k.log
		}
		n, err := webhook.New(wc)
		if err != nil {
			return fmt.Errorf("approval webhook: %w", err)
		}
		if err := k.parts.StartAdvisory(ctx, n); err != nil {
			return err
		}
		k.notifier = n
	}
	custom, err := customPolicy(cfg.Policy)
	if err != nil {
		return err
	}
	e, err := engine.New(ctx, engine.Config{
		Custom:             custom,
		Store:              k.store,
		PendingApprovalTTL: cfg.PendingApprovalTTL,
		DecisionTimeout:    cfg.DecisionTimeout,
		DecisionMemo:       cfg.DecisionMemo,
		OnApprovalRequested: func(r *agent.ApprovalRequest) {
			if k.notifier != nil {
				k.notifier.Notify("approval.requested", r)
			}
		},
	})
	if err != nil {
		return err
	}
	k.engine = e
	// A store with a change feed loads every agent in the feed's first sync, after it
	// listens, so that nothing committed meanwhile is missed; otherwise load them here.
	loaded, err := k.startFeed(ctx, cfg.Staleness)
	if err != nil {
		return err
	}
	if !loaded {
		if err := e.LoadAll(ctx); err != nil {
			return err
		}
	}
	k.bundleKey = cfg.Policy.bundleKey()
	if err := k.startShadow(ctx, cfg.Policy); err != nil {
		return err
	}
	return k.startBundles(ctx, cfg.Policy)
}

// OpenStore opens the store a database URL names.
func OpenStore(ctx context.Context, database string) (store.Store, error) {
	if database == "" {
		database = DefaultDatabase
	}
	switch {
	case strings.HasPrefix(database, "sqlite://"):
		return sqlite.Open(ctx, strings.TrimPrefix(database, "sqlite://"))
	case strings.HasPrefix(database, "postgres://"), strings.HasPrefix(database, "postgresql://"):
		return postgres.Open(ctx, database)
	}
	return nil, fmt.Errorf("database %q: want sqlite://PATH or postgres://URL", redact(database))
}

// redact hides a password in a database URL for messages.
func redact(u string) string {
	if at := strings.LastIndex(u, "@"); at > 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			return u[:scheme+3] + "…" + u[at:]
		}
	}
	return u
}

// Agents returns the agent API.
func (k *Kavach) Agents() api.Agents { return k.agents }

// Tenants returns the tenant API.
func (k *Kavach) Tenants() api.Tenants { return k.tenants }

// Store returns the underlying store.
func (k *Kavach) Store() store.Store { return k.store }

// Delegations returns the delegation API.
func (k *Kavach) Delegations() api.Delegations { return k.delegs }

// Approvals returns the approval API.
func (k *Kavach) Approvals() api.Approvals { return k.approvals }

// Engine returns the decision engine.
func (k *Kavach) Engine() *engine.Engine { return k.engine }

// StopBudget is how long Close gives each long-running part to stop.
const StopBudget = 10 * time.Second

// Close stops the long-running parts — the change feed, the bundle loader, the webhook
// notifier (delivering what is pending), the audit pipeline (committing what is queued, or
// spooling it) and the Kafka relay — each within StopBudget, and releases the database.
func (k *Kavach) Close() error {
	return errors.Join(k.parts.Stop(context.Background(), StopBudget), k.store.Close())
}

// Parts reports the state of each long-running part by name.
func (k *Kavach) Parts() map[string]lifecycle.Status { return k.parts.Statuses() }

// WithActor returns a context in which calls act as a.
func WithActor(ctx context.Context, a api.Actor) context.Context { return api.WithActor(ctx, a) }

// clock returns the current time at the precision both stores keep.
func (k *Kavach) clock() time.Time { return k.now().UTC().Truncate(time.Microsecond) }
