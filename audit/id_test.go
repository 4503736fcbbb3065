package audit_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/kavachos/kavach-go/audit"
)

// TestNewIDIsAnOrderedUUIDv7: every id parses as a version 7 RFC 9562 UUID, ids made one
// after another sort in that order, and ids made concurrently never collide.
func TestNewIDIsAnOrderedUUIDv7(t *testing.T) {
	t.Parallel()
	prev := ""
	for range 100_000 {
		id := audit.NewID()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 || u.String() != id {
			t.Fatalf("%q: version %d, variant %v, %v", id, u.Version(), u.Variant(), err)
		}
		if id <= prev {
			t.Fatalf("%q made after %q sorts before it", id, prev)
		}
		prev = id
	}
	const workers, each = 8, 20_000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				ids[w] = append(ids[w], audit.NewID())
			}
		})
	}
	wg.Wait()
	all := slices.Concat(ids...)
	slices.Sort(all)
	if len(slices.Compact(all)) != workers*each {
		t.Fatal("concurrent ids collided")
	}
	for w := range ids {
		if !slices.IsSorted(ids[w]) {
			t.Fatal("one goroutine's ids are out of order")
		}
	}
}
