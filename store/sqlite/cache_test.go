package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
)

// The writer's page cache stays small: a bulk creation raises it for its own transaction
// and sets it back, whether the creation commits or fails.
func TestBulkCreationSetsTheWriterCacheBack(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cacheSize := func() int {
		t.Helper()
		var n int
		if err := s.w.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := cacheSize(); n != writerCacheSize {
		t.Fatalf("writer cache_size %d at open, want %d", n, writerCacheSize)
	}
	var batch []store.AgentWithTokenHash
	for i := range 3 {
		a, token := dataset.NewAgent(i, time.Now())
		batch = append(batch, store.AgentWithTokenHash{Agent: a, TokenHash: agent.HashToken(token)})
	}
	if err := s.CreateAgents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if n := cacheSize(); n != writerCacheSize {
		t.Fatalf("writer cache_size %d after a bulk creation, want %d", n, writerCacheSize)
	}
	if err := s.CreateAgents(ctx, batch); err == nil { // the same ids again
		t.Fatal("a bulk creation of existing agents succeeded")
	}
	if n := cacheSize(); n != writerCacheSize {
		t.Fatalf("writer cache_size %d after a failed bulk creation, want %d", n, writerCacheSize)
	}
}
