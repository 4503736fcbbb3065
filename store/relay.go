package store

import "context"

// RelayStore keeps what a ledger relay (such as the Kafka relay) needs: its position in
// each tenant's chain, and a lease that makes it the only relay of its name running across
// all instances sharing the database.
type RelayStore interface {
	// RelayPosition returns the last seq the named relay published for a tenant (0 if none).
	RelayPosition(ctx context.Context, relay, tenantID string) (int64, error)
	// SaveRelayPosition records the last published seq; it never moves backwards.
	SaveRelayPosition(ctx context.Context, relay, tenantID string, seq int64) error
	// TryLead tries to take the named leadership. ok is false if another holder has it.
	TryLead(ctx context.Context, name string) (lease Lease, ok bool, err error)
}

// Lease is held leadership. Lost is closed if it is lost (the holding connection died);
// Release gives it up.
type Lease interface {
	Lost() <-chan struct{}
	Release()
}
