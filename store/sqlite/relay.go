package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/kavachos/kavach-go/store"
)

// RelayPosition returns the last seq the relay published for the tenant, 0 if none.
func (s *Store) RelayPosition(ctx context.Context, relay, tenantID string) (int64, error) {
	var seq int64
	err := s.r.QueryRowContext(ctx, `SELECT seq FROM relay_positions WHERE relay = ? AND tenant_id = ?`,
		relay, tenantID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, mapErr(err, "relay position")
	}
	return seq, nil
}

// SaveRelayPosition records seq as the relay's position for the tenant, unless the stored
// position is already further.
func (s *Store) SaveRelayPosition(ctx context.Context, relay, tenantID string, seq int64) error {
	if seq < 0 {
		return fmt.Errorf("sqlite: relay position %d: seq must not be negative", seq)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO relay_positions (relay, tenant_id, seq) VALUES (?, ?, ?)
		ON CONFLICT (relay, tenant_id) DO UPDATE SET seq = max(relay_positions.seq, excluded.seq)`,
		relay, tenantID, seq)
	return mapErr(err, "save relay position")
}

// One process owns a SQLite file, so leadership is a lock in memory. It is kept per Store
// (not per file): two Stores opened on the same file in one process do not exclude each
// other. The table lives outside Store so that holding no lease costs nothing.
var (
	leasesMu sync.Mutex
	leases   = map[leaseKey]*lease{}
)

type leaseKey struct {
	s    *Store
	name string
}

// TryLead takes the named leadership if no one else in this Store holds it. The lease is
// never lost on its own; it ends when released.
func (s *Store) TryLead(ctx context.Context, name string) (store.Lease, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	leasesMu.Lock()
	defer leasesMu.Unlock()
	k := leaseKey{s, name}
	if _, held := leases[k]; held {
		return nil, false, nil
	}
	l := &lease{key: k, lost: make(chan struct{})}
	leases[k] = l
	return l, true, nil
}

type lease struct {
	key  leaseKey
	lost chan struct{}
	once sync.Once
}

// Lost is closed once the lease has been released.
func (l *lease) Lost() <-chan struct{} { return l.lost }

// Release gives the leadership up. Calling it again does nothing.
func (l *lease) Release() {
	l.once.Do(func() {
		leasesMu.Lock()
		delete(leases, l.key)
		leasesMu.Unlock()
		close(l.lost)
	})
}
