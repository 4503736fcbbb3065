package postgres_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// openSecond opens another store over first's database and schema, as a second instance
// would.
func openSecond(t *testing.T, first store.Store) store.Store {
	s, err := postgres.Open(context.Background(), first.(*postgres.Store).Pool().Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A lease whose session dies is reported lost, and the server frees the lock for others.
func TestLeaseLostWhenSessionDies(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	app := "kavach_lease_" + time.Now().Format("150405.000000000")
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	s, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other := openSecond(t, s)

	lease, ok, err := s.TryLead(ctx, "relay")
	if err != nil || !ok {
		t.Fatalf("TryLead: %v, %v", ok, err)
	}
	defer lease.Release()

	admin, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a
		WHERE a.application_name = $1 AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory')`,
		app).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminating the lease's session: %d sessions, %v", killed, err)
	}

	select {
	case <-lease.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("Lost was not closed within 10s of the session's end")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, ok, err := other.TryLead(ctx, "relay")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			l.Release()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock of a dead session was not freed within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
