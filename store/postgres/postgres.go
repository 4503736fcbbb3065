// Package postgres is the production store: PostgreSQL through a pgx/v5 connection pool.
// Several Kavach instances can share one database.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key that serialises migrations across instances.
const migrationLock = 0x6b61766163680001 // "kavach" + 1

// Store is a store.Store over a pgx pool.
type Store struct {
	pool *pgxpool.Pool
}

var (
	_ store.Store            = (*Store)(nil)
	_ store.BulkAgentCreator = (*Store)(nil)
)

// Open connects to the database at url (a postgres:// URL or a key=value DSN) and brings
// its schema up to date.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return OpenConfig(ctx, cfg)
}

// OpenConfig is Open with a parsed pool configuration. Its statements are traced (see
// tracer) beside any tracer cfg already has.
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	if cfg.ConnConfig.Tracer == nil {
		cfg.ConnConfig.Tracer = tracer{}
	} else {
		cfg.ConnConfig.Tracer = multitracer.New(cfg.ConnConfig.Tracer, tracer{})
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool}
	if _, err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Migrate applies the embedded migrations that have not run yet, holding an advisory lock
// so that instances starting together do not race.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	files, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	applied := 0
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL)`); err != nil {
			return err
		}
		for _, m := range files {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
				return err
			}
			if done {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return err
			}
			applied++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	return applied, nil
}

// write runs fn in a transaction, then appends the audit events attached to ctx
// (store.WithAudit) in the same transaction and commits: a change and the events that
// describe it are committed together or not at all.
//
// The chain's advisory lock is taken last, after whatever rows fn locked, and held only
// until COMMIT. Appenders outside a write (the audit pipeline, pruning) take that lock
// alone and touch only the audit tables, so no cycle of waits can form between them and
// writes, nor between two writes.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		events, err := store.AuditFrom(ctx)
		if err != nil {
			return err
		}
		return appendChain(ctx, tx, events, false)
	})
}

// Pool returns the underlying pool, for components that need Postgres features directly
// (advisory locks, LISTEN/NOTIFY).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// mapErr turns Postgres constraint failures into store errors.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%s: already exists: %w", what, store.ErrConflict)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%s: references a missing object: %w", what, store.ErrNotFound)
		}
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}
