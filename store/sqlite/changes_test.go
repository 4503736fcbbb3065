package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/storetest"
)

// feedLog records what a watcher announces.
type feedLog struct {
	mu      sync.Mutex
	changes []store.Change
	syncs   int
	fail    atomic.Bool // Changed refuses what it is given
	lost    atomic.Bool
}

func (l *feedLog) handler() store.ChangeHandler {
	return store.ChangeHandler{
		Synced: func(context.Context) error { l.mu.Lock(); l.syncs++; l.mu.Unlock(); return nil },
		Lost:   func(error) { l.lost.Store(true) },
		Changed: func(_ context.Context, c store.Change) error {
			if l.fail.Load() {
				return errors.New("engine unavailable")
			}
			l.mu.Lock()
			l.changes = append(l.changes, c)
			l.mu.Unlock()
			return nil
		},
	}
}

func (l *feedLog) seen() ([]store.Change, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]store.Change(nil), l.changes...), l.syncs
}

func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
	}
}

// TestWatchAnnouncesEveryCommit: a Store watching the file sees each change committed by
// another Store on it (another process) and by itself, once each; a gap in the log (rows
// pruned before they were read) makes a full resync, and a change that cannot be applied
// makes the watch start over with one.
func TestWatchAnnouncesEveryCommit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "k.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.changePoll = 5 * time.Millisecond
	var log feedLog
	go a.WatchChanges(ctx, log.handler())
	within(t, "first sync", func() bool { _, syncs := log.seen(); return syncs == 1 })

	mine := storetest.NewAgent(agent.DefaultTenant, "o")
	if err := a.CreateAgent(ctx, mine, "hash-mine"); err != nil {
		t.Fatal(err)
	}
	theirs := storetest.NewAgent(agent.DefaultTenant, "o")
	if err := b.CreateAgent(ctx, theirs, "hash-theirs"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.UpdateAgent(ctx, theirs.ID, func(x *agent.Agent) error { x.Name = "renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	within(t, "three changes", func() bool { c, _ := log.seen(); return len(c) == 3 })
	changes, _ := log.seen()
	want := []store.Change{{Kind: "agent", ID: mine.ID}, {Kind: "agent", ID: theirs.ID}, {Kind: "agent", ID: theirs.ID}}
	if !slices.Equal(changes, want) {
		t.Fatalf("announced %+v, want %+v", changes, want)
	}

	// A change row the watcher has not read is gone (pruned): it cannot know what changed,
	// so it reloads.
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO agents (`+agentColumns+`) SELECT 'agt_x3', tenant_id, owner_id, name, type, status, token_prefix, expires_at, permissions, metadata, created_at, updated_at FROM agents WHERE id = ?`, theirs.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM changes WHERE id = 'agt_x3'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateAgent(ctx, storetest.NewAgent(agent.DefaultTenant, "o"), "hash-4"); err != nil {
		t.Fatal(err)
	}
	within(t, "resync after a gap", func() bool { _, syncs := log.seen(); return syncs == 2 })

	log.fail.Store(true)
	if err := b.CreateAgent(ctx, storetest.NewAgent(agent.DefaultTenant, "o"), "hash-5"); err != nil {
		t.Fatal(err)
	}
	within(t, "a lost watch after a change that could not be applied", func() bool { return log.lost.Load() })
	log.fail.Store(false)
	within(t, "resync once the watch is back", func() bool { _, syncs := log.seen(); return syncs == 3 })
}
