// Package sqlite is the embedded store: one SQLite file (modernc.org/sqlite, no cgo) in WAL
// mode, with foreign keys on and a busy timeout, created readable by its owner only.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a store.Store over one SQLite file. Writes go through a single connection, as
// SQLite allows one writer at a time; reads use a pool.
type Store struct {
	w *sql.DB // one connection; transactions begin IMMEDIATE so they never upgrade locks
	r *sql.DB

	audit *auditStmts // prepared on w

	changePoll time.Duration // 0: DefaultChangePoll
}

var (
	_ store.Store            = (*Store)(nil)
	_ store.BulkAgentCreator = (*Store)(nil)
)

// Open opens (creating it with mode 0600 if needed) the database file at path and brings
// its schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	st, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	if st.Size() == 0 {
		if err := create(ctx, path); err != nil {
			return nil, err
		}
	}

	dsn := func(txlock string, pragmas ...string) string {
		q := url.Values{}
		for _, p := range pragmas {
			q.Add("_pragma", p)
		}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", txlock)
		return "file:" + escapePath(path) + "?" + q.Encode()
	}
	// The writer keeps 8 MB of pages, more than SQLite's default 2 MB. Not more: SQLite
	// scans the whole page cache at the end of every transaction whose inserts split a page
	// (balance_nonroot renumbers a page through the pending-byte page's number, and the
	// commit then truncates the cache above the database's size), so each commit of the
	// ledger costs time in proportion to the cache's size. A bulk creation of agents raises
	// it for its own transaction (bulkCacheSize).
	w, err := openDB(dsn("immediate", fmt.Sprintf("cache_size(%d)", writerCacheSize)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := openDB(dsn("deferred"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	s := &Store{w: w, r: r}
	if _, err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.audit, err = prepareAudit(ctx, w); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// pageSize is the page size of new databases: a stored agent with ten permissions takes
// 2–3 KB, of which 4 KB pages (SQLite's default) would hold only one.
const pageSize = 8192

const createMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)`

// create gives a new, empty database file its page size, which only the first write can
// set, and which WAL mode would fix at the default if it came first.
func create(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+"?_pragma="+url.QueryEscape(fmt.Sprintf("page_size(%d)", pageSize)))
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	_, err = db.ExecContext(ctx, createMigrations)
	if err = errors.Join(err, db.Close()); err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	return nil
}

// Migrate applies the embedded migrations that have not run yet.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	files, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, createMigrations); err != nil {
		return 0, fmt.Errorf("sqlite: migrate: %w", err)
	}
	applied := 0
	for _, m := range files {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
			return 0, fmt.Errorf("sqlite: migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return 0, fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.Version, m.Name); err != nil {
			return 0, fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		applied++
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: migrate: %w", err)
	}
	return applied, nil
}

// The writer's page cache, in SQLite's cache_size units (negative: KiB): 8 MB, and 64 MB
// while agents are created in bulk, whose inserts into the token-hash index land at random
// places and would otherwise read most of its pages back.
const (
	writerCacheSize = -8192
	bulkCacheSize   = -65536
)

// write runs fn in a write transaction, then appends the audit events attached to ctx
// (store.WithAudit) in the same transaction and commits: a change and the events that
// describe it are committed together or not at all.
func (s *Store) write(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err, what)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	events, err := store.AuditFrom(ctx)
	if err != nil {
		return err
	}
	if err := s.appendChain(ctx, tx, events); err != nil {
		return err
	}
	return mapErr(tx.Commit(), what)
}

// Close closes the database.
func (s *Store) Close() error {
	var err error
	if s.audit != nil {
		err = s.audit.close()
	}
	return errors.Join(err, s.r.Close(), s.w.Close())
}

// mapErr turns SQLite constraint failures into store errors.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%s: already exists: %w", what, store.ErrConflict)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: references a missing object: %w", what, store.ErrNotFound)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

// escapePath makes a file path safe inside a "file:" URI, where "?" starts the query and
// "#" a fragment.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}
