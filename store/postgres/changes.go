package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/store"
)

var _ store.ChangeFeed = (*Store)(nil)

// WatchChanges listens on the schema's change channel on a dedicated connection. Each time
// it (re)connects it first LISTENs, then calls Synced, so nothing committed in between is
// missed. A connection that errors or stops answering pings is reported Lost and replaced.
func (s *Store) WatchChanges(ctx context.Context, h store.ChangeHandler) error {
	return store.Watch(ctx, h, s.listen)
}

func (s *Store) listen(ctx context.Context, h store.ChangeHandler) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("change feed: connect: %w", err)
	}
	defer conn.Close(context.Background())
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("change feed: %w", err)
	}
	channel := pgx.Identifier{"kavach_changes_" + schema}.Sanitize()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("change feed: listen: %w", err)
	}
	if h.Synced != nil {
		if err := h.Synced(ctx); err != nil {
			return fmt.Errorf("change feed: resync: %w", err)
		}
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Quiet for a while: make sure the connection is still there.
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("change feed: ping: %w", err)
			}
			continue
		case err != nil:
			return fmt.Errorf("change feed: %w", err)
		}
		kind, id, ok := strings.Cut(n.Payload, ":")
		if ok && h.Changed != nil {
			if err := h.Changed(ctx, store.Change{Kind: kind, ID: id}); err != nil {
				return fmt.Errorf("change feed: %s %s not applied: %w", kind, id, err)
			}
		}
	}
}
