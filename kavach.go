// Package kavach is the embedded SDK: Open a store and manage agents, in-process, through
// the same api.Kavach interface the HTTP client implements.
//
//	k, err := kavach.Open(ctx, kavach.Config{Database: "sqlite://kavach.db"})
//	ctx = kavach.WithActor(ctx, api.Actor{Role: api.RoleAdmin, TenantID: "default"})
//	created, err := k.Agents().Create(ctx, api.CreateAgentRequest{...})
package kavach

import (
	"context"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time windows name IANA zones; do not depend on the host's zoneinfo

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres"
	"github.com/kavachos/kavach-go/store/sqlite"
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
}

// Kavach is an open Kavach instance. It is safe for concurrent use.
type Kavach struct {
	store   store.Store
	now     func() time.Time
	agents  *agentService
	tenants *tenantService
}

var _ api.Kavach = (*Kavach)(nil)

// Open opens the configured database, migrating its schema, and returns a Kavach over it.
func Open(ctx context.Context, cfg Config) (*Kavach, error) {
	s, err := OpenStore(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	k := &Kavach{store: s, now: cfg.Now}
	if k.now == nil {
		k.now = time.Now
	}
	k.agents = &agentService{k: k}
	k.tenants = &tenantService{k: k}
	return k, nil
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

// Close releases the database.
func (k *Kavach) Close() error { return k.store.Close() }

// WithActor returns a context in which calls act as a.
func WithActor(ctx context.Context, a api.Actor) context.Context { return api.WithActor(ctx, a) }

// clock returns the current time at the precision both stores keep.
func (k *Kavach) clock() time.Time { return k.now().UTC().Truncate(time.Microsecond) }
