package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kavachos/kavach-go/store"
)

var _ store.ChangeFeed = (*Store)(nil)

// Several processes may open one database file — a server and the CLI beside it. Triggers
// log every committed change to agents, delegations and API keys in the changes table,
// inside the writing transaction (migration 0009), and WatchChanges announces them, as
// Postgres's NOTIFY does for instances sharing a database. A process's own changes are
// announced back to it too: applying one again is harmless, and it repairs an engine
// update that failed after the commit (a caller that went away, say).

const (
	// DefaultChangePoll is how often WatchChanges asks SQLite whether another connection
	// has committed (PRAGMA data_version, which costs no read of the file). It bounds how
	// long another process's change takes to reach this one.
	DefaultChangePoll = 100 * time.Millisecond
	// resyncAbove is how many pending changes make a full reload cheaper than applying
	// them one by one (a bulk import by another process).
	resyncAbove = 10_000
	// changesKept is how long change rows are kept; a watcher that falls further behind
	// (a stopped process) reloads everything when it resumes.
	changesKept = time.Hour
)

// lastChange returns the newest change seq visible to q.
func lastChange(ctx context.Context, q queryRower) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM changes`).Scan(&seq)
	return seq, mapErr(err, "last change")
}

// WatchChanges announces the changes other processes commit to the file until ctx ends.
// It first takes the newest change as its position, then calls Synced (a full reload), so
// nothing committed in between is missed; after that it polls PRAGMA data_version and
// reads only the rows after its position.
func (s *Store) WatchChanges(ctx context.Context, h store.ChangeHandler) error {
	return store.Watch(ctx, h, s.watch)
}

func (s *Store) watch(ctx context.Context, h store.ChangeHandler) error {
	// data_version is per connection: keep one for the whole watch.
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return fmt.Errorf("change feed: %w", err)
	}
	defer conn.Close()
	w := &watcher{s: s, conn: conn, h: h}
	if w.pos, err = lastChange(ctx, conn); err != nil {
		return fmt.Errorf("change feed: %w", err)
	}
	if w.version, err = w.dataVersion(ctx); err != nil {
		return err
	}
	if err := w.resync(ctx); err != nil {
		return err
	}
	poll := s.changePoll
	if poll <= 0 {
		poll = DefaultChangePoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	pruned := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		v, err := w.dataVersion(ctx)
		if err != nil {
			return err
		}
		if v == w.version {
			continue
		}
		w.version = v
		if err := w.catchUp(ctx); err != nil {
			return err
		}
		if time.Since(pruned) > changesKept/10 {
			pruned = time.Now()
			go s.pruneChanges(ctx) // through the writer: it may wait for another process's write lock
		}
	}
}

type watcher struct {
	s       *Store
	conn    *sql.Conn
	h       store.ChangeHandler
	pos     int64
	version int64
}

func (w *watcher) dataVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := w.conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("change feed: data_version: %w", err)
	}
	return v, nil
}

func (w *watcher) resync(ctx context.Context) error {
	if w.h.Synced == nil {
		return nil
	}
	if err := w.h.Synced(ctx); err != nil {
		return fmt.Errorf("change feed: resync: %w", err)
	}
	return nil
}

// catchUp announces the changes after the position. Too many, or a gap (rows pruned
// before this watcher read them), make a full reload instead.
func (w *watcher) catchUp(ctx context.Context) error {
	last, err := lastChange(ctx, w.conn)
	if err != nil {
		return fmt.Errorf("change feed: %w", err)
	}
	if last <= w.pos {
		return nil
	}
	var first int64
	if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(min(seq), 0) FROM changes WHERE seq > ?`, w.pos).Scan(&first); err != nil {
		return fmt.Errorf("change feed: %w", err)
	}
	if last-w.pos > resyncAbove || first > w.pos+1 {
		w.pos = last
		return w.resync(ctx)
	}
	rows, err := w.conn.QueryContext(ctx, `SELECT seq, kind, id FROM changes WHERE seq > ? AND seq <= ? ORDER BY seq`, w.pos, last)
	if err != nil {
		return fmt.Errorf("change feed: %w", err)
	}
	var changes []store.Change
	for rows.Next() {
		var seq int64
		var c store.Change
		if err := rows.Scan(&seq, &c.Kind, &c.ID); err != nil {
			rows.Close()
			return fmt.Errorf("change feed: %w", err)
		}
		changes = append(changes, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("change feed: %w", err)
	}
	w.pos = last
	for _, c := range changes {
		if w.h.Changed != nil {
			if err := w.h.Changed(ctx, c); err != nil {
				return fmt.Errorf("change feed: %s %s not applied: %w", c.Kind, c.ID, err)
			}
		}
	}
	return nil
}

// pruneChanges deletes change rows older than changesKept.
func (s *Store) pruneChanges(ctx context.Context) {
	s.w.ExecContext(ctx, `DELETE FROM changes WHERE at < unixepoch() - ?`, int64(changesKept/time.Second))
}
