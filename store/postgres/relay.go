package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/store"
)

// RelayPosition returns the last seq the relay published for the tenant, 0 if none.
func (s *Store) RelayPosition(ctx context.Context, relay, tenantID string) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM relay_positions WHERE relay = $1 AND tenant_id = $2`,
		relay, tenantID).Scan(&seq)
	return seq, mapErr(err, "relay position")
}

// SaveRelayPosition records seq as the relay's position for the tenant, unless the stored
// position is already further (another leader may have got there first).
func (s *Store) SaveRelayPosition(ctx context.Context, relay, tenantID string, seq int64) error {
	if seq < 0 {
		return fmt.Errorf("postgres: relay position %d: seq must not be negative", seq)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO relay_positions (relay, tenant_id, seq) VALUES ($1, $2, $3)
		ON CONFLICT (relay, tenant_id) DO UPDATE SET seq = GREATEST(relay_positions.seq, excluded.seq)`,
		relay, tenantID, seq)
	return mapErr(err, "save relay position")
}

// leasePing is how often a held lease checks that its connection, and so its lock, is alive.
const leasePing = time.Second

// TryLead takes the named leadership with a session advisory lock, held on a connection of
// its own taken out of the pool: the lock lives exactly as long as that session, so a
// crashed instance cannot keep it. The key is derived from the name and the current schema,
// so deployments in different schemas of one database do not exclude each other.
func (s *Store) TryLead(ctx context.Context, name string) (store.Lease, bool, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, mapErr(err, "lead "+name)
	}
	var (
		key int64
		ok  bool
	)
	err = pc.QueryRow(ctx, `SELECT k, pg_try_advisory_lock(k) FROM (SELECT
		('x' || left(md5('kavach.lease:' || coalesce(current_schema(), '') || ':' || $1), 16))::bit(64)::bigint AS k) AS key`,
		name).Scan(&key, &ok)
	if err != nil || !ok {
		pc.Release()
		return nil, false, mapErr(err, "lead "+name)
	}
	l := &lease{
		conn: pc.Hijack(), key: key,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go l.watch()
	return l, true, nil
}

// lease is a held advisory lock. Its connection belongs to watch until Release stops it.
type lease struct {
	conn *pgx.Conn
	key  int64
	lost chan struct{} // closed when the lease ends
	stop chan struct{} // closed by Release
	done chan struct{} // closed when watch returns

	lostOnce, releaseOnce sync.Once
}

// Lost is closed when the lease ends: its connection failed, or it was released.
func (l *lease) Lost() <-chan struct{} { return l.lost }

// watch pings the connection until Release; a failed ping means the session, and with it
// the lock, is gone (or cannot be vouched for), so the lease is lost.
func (l *lease) watch() {
	defer close(l.done)
	t := time.NewTicker(leasePing)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := l.conn.Ping(ctx)
		cancel()
		if err != nil {
			l.markLost()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			l.conn.Close(ctx) // ends the session if the server still has it, and the lock with it
			cancel()
			return
		}
	}
}

func (l *lease) markLost() { l.lostOnce.Do(func() { close(l.lost) }) }

// Release unlocks and closes the lease's connection. Calling it again does nothing.
func (l *lease) Release() {
	l.releaseOnce.Do(func() {
		close(l.stop)
		<-l.done
		if !l.conn.IsClosed() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, l.key) // closing would release it too
			l.conn.Close(ctx)
			cancel()
		}
		l.markLost()
	})
}
