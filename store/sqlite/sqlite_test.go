package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/sqlite"
	"github.com/kavachos/kavach-go/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// open returns a store over a new file that the test owns.
func open(tb testing.TB) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "kavach.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestFilesAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kavach.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A write makes SQLite create the WAL file next to the database.
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if mode := st.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), mode)
		}
	}
}

// Paths may hold characters that mean something in a file: URI.
func TestPathsWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd#dir?x=1%20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kavach.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("the database was not created at %s: %v", path, err)
	}
}

// A new database gets 8 KB pages, although it is in WAL mode from its first connection.
func TestNewDatabasesHave8KPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kavach.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var size int
	var mode string
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if size != 8192 || mode != "wal" {
		t.Fatalf("page size %d, journal mode %s; want 8192 and wal", size, mode)
	}
}

// Every statement, prepared or not, is a client span of the caller's span, as are the
// ends of a transaction begun inside it, without argument values.
func TestStatementSpans(t *testing.T) {
	spans := storetest.StatementSpans(t, open(t), "sqlite")
	names := map[string]bool{}
	for _, sp := range spans {
		names[sp.Name()] = true
	}
	for _, want := range []string{"BEGIN", "COMMIT", "ROLLBACK", "SELECT agents", "INSERT agents", "INSERT audit_events", "SELECT audit_heads"} {
		if !names[want] {
			t.Errorf("no span named %q among %v", want, names)
		}
	}
}
