package kavach

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
)

var secretBackends = []struct {
	name string
	url  func(b *testing.B) string
}{
	{"sqlite", func(b *testing.B) string { return "sqlite://" + b.TempDir() + "/kavach.db" }},
	{"postgres", func(b *testing.B) string { return pgtest.URL(b) }},
}

// secretCaches is each benchmark's two ways to run: with the caches turned off, every
// lookup queries the database as it did before they existed.
var secretCaches = []struct {
	name string
	size int
}{{"off", -1}, {"on", 0}}

func openBenchInstance(b *testing.B, url string, cacheSize int) *Kavach {
	b.Helper()
	k, err := Open(context.Background(), Config{
		Database: url, Recorder: discardAudit{}, SecretCacheSize: cacheSize,
		Audit:  AuditConfig{SigningKey: cacheTestAuditKey},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { k.Close() })
	return k
}

// populateTokens writes n generated agents (tests/bench/dataset) into the database at url
// and returns their ids and tokens.
func populateTokens(b *testing.B, url string, n int) (ids, tokens []string) {
	b.Helper()
	ctx := context.Background()
	s, err := OpenStore(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := dataset.Populate(ctx, s, n, func(a *agent.Agent, token string) error {
		ids, tokens = append(ids, a.ID), append(tokens, token)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return ids, tokens
}

// eachTokenSetup runs fn on each backend holding 10k generated agents, once with the caches
// off and once on, after every token has been resolved once (a miss) so that timing starts
// from a warm cache.
func eachTokenSetup(b *testing.B, fn func(b *testing.B, k *Kavach, ids, tokens []string)) {
	for _, be := range secretBackends {
		b.Run("backend="+be.name, func(b *testing.B) {
			url := be.url(b)
			ids, tokens := populateTokens(b, url, 10_000)
			for _, c := range secretCaches {
				k := openBenchInstance(b, url, c.size)
				for _, t := range tokens {
					k.resolveToken(context.Background(), api.Root, t, k.clock())
				}
				b.Run("cache="+c.name, func(b *testing.B) { fn(b, k, ids, tokens) })
			}
		})
	}
}

// BenchmarkResolveToken is the token's resolution alone, as AuthorizeToken does it before
// deciding: seen=again is a token resolved before, seen=first one whose agent has just
// changed (the cache's miss).
func BenchmarkResolveToken(b *testing.B) {
	eachTokenSetup(b, func(b *testing.B, k *Kavach, ids, tokens []string) {
		for _, seen := range []string{"again", "first"} {
			b.Run("seen="+seen, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					j := (i * 7919) % len(ids)
					if seen == "first" {
						k.forgetTokens(ids[j])
					}
					if id, res := k.resolveToken(context.Background(), api.Root, tokens[j], k.clock()); res != nil || id != ids[j] {
						b.Fatal(id, res)
					}
					i++
				}
			})
		}
	})
}

// BenchmarkAuthorizeByToken is the same allowed calls by id and by token, end to end but
// for the audit event (discarded): the difference between the two is what resolving the
// token costs.
func BenchmarkAuthorizeByToken(b *testing.B) {
	ctx := WithActor(context.Background(), api.Root)
	eachTokenSetup(b, func(b *testing.B, k *Kavach, ids, tokens []string) {
		for _, by := range []string{"id", "token"} {
			b.Run("by="+by, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					m := dataset.Allowed[i%len(dataset.Allowed)]
					j := (i * 7919) % len(ids)
					req := api.AuthorizeRequest{Action: m.Action, Resource: m.Resource, Arguments: m.Arguments}
					var d *api.Decision
					var err error
					if by == "id" {
						d, err = k.Authorize(ctx, ids[j], req, api.CallContext{IP: m.IP})
					} else {
						d, err = k.AuthorizeToken(ctx, tokens[j], req, api.CallContext{IP: m.IP})
					}
					if err != nil || !d.Allowed {
						b.Fatal(d, err)
					}
					i++
				}
			})
		}
	})
}

// BenchmarkAuthenticateAPIKey is what authenticating an HTTP request costs: a presented API
// key resolved to the actor it acts as, here one of 100 keys.
func BenchmarkAuthenticateAPIKey(b *testing.B) {
	for _, be := range secretBackends {
		b.Run("backend="+be.name, func(b *testing.B) {
			url := be.url(b)
			keys := make([]string, 100)
			admin := openBenchInstance(b, url, -1).APIKeys()
			for i := range keys {
				k, err := admin.Create(WithActor(context.Background(), api.Root), api.CreateAPIKeyRequest{Role: api.RoleApp})
				if err != nil {
					b.Fatal(err)
				}
				keys[i] = k.Key
			}
			for _, c := range secretCaches {
				k := openBenchInstance(b, url, c.size)
				b.Run("cache="+c.name, func(b *testing.B) {
					for _, key := range keys {
						k.AuthenticateAPIKey(context.Background(), key)
					}
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if _, err := k.AuthenticateAPIKey(context.Background(), keys[i%len(keys)]); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			}
		})
	}
}

// BenchmarkSecretCacheMemory fills a token cache with agents' current tokens (ids as
// Kavach mints them, owner ids like "user_123456") and reports the heap it holds per entry.
// Go maps grow by doubling, so the figure moves with how full their tables happen to be.
func BenchmarkSecretCacheMemory(b *testing.B) {
	for _, n := range []int{100_000, 700_000, DefaultSecretCacheSize} {
		b.Run(fmt.Sprintf("entries=%dk", n/1000), func(b *testing.B) {
			agents := make([]agent.Agent, n)
			keys := make([]secretKey, n)
			for i := range agents {
				agents[i] = agent.Agent{ID: agent.NewID(agent.PrefixAgent), TenantID: agent.DefaultTenant, OwnerID: fmt.Sprintf("user_%d", i)}
				keys[i] = keyOf(agent.MintToken())
			}
			var perEntry float64
			for b.Loop() {
				before := heapInUse()
				c := newSecretCache[tokenHolder](n)
				for i := range agents {
					c.put(c.generation(), keys[i], holderOf(&agents[i]), time.Time{})
				}
				perEntry = float64(heapInUse()-before) / float64(c.len())
				runtime.KeepAlive(c)
			}
			b.ReportMetric(perEntry, "B/entry")
		})
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
