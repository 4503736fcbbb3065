package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// BenchmarkTokenLookup finds one agent of a thousand by its token hash, as authorize does
// when its token cache misses: one indexed query per call, the store's hot read.
func BenchmarkTokenLookup(b *testing.B, newStore func(testing.TB) store.Store) {
	s := newStore(b)
	ctx := context.Background()
	hashes := make([]string, 1000)
	for i := range hashes {
		hashes[i] = agent.HashToken(agent.MintToken())
		if err := s.CreateAgent(ctx, NewAgent(agent.DefaultTenant, "user_bench"), hashes[i]); err != nil {
			b.Fatal(err)
		}
	}
	at := time.Now()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.AgentByTokenHash(ctx, hashes[i%len(hashes)], at); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
