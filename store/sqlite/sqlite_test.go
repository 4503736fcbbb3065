package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/sqlite"
	"github.com/kavachos/kavach-go/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kavach.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
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
