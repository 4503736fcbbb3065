package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/store"
)

// BenchmarkConsume charges one rate limit per call (one write transaction), as an allowed
// call under a rate-limited grant does.
func BenchmarkConsume(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		limit := store.RateLimit{Key: fmt.Sprintf("agt_bench/perm_%d", i%100), Max: 1_000_000, Window: time.Minute}
		r, err := s.Consume(ctx, store.Consumption{Now: time.Now(), Limits: []store.RateLimit{limit}})
		if err != nil || !r.OK {
			b.Fatal(r, err)
		}
		i++
	}
}
