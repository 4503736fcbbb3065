package kavach

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

const cacheTestAuditKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

type discardAudit struct{}

func (discardAudit) Record(context.Context, *store.AuditEvent) error { return nil }

func openForCache(t testing.TB, db string) *Kavach {
	t.Helper()
	k, err := Open(context.Background(), Config{Database: db, Recorder: discardAudit{},
		Audit: AuditConfig{SigningKey: cacheTestAuditKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// eachStore runs fn over a Kavach on SQLite and one on Postgres.
func eachStore(t *testing.T, fn func(t *testing.T, k *Kavach)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, openForCache(t, "sqlite://"+filepath.Join(t.TempDir(), "kavach.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, openForCache(t, pgtest.URL(t)))
	})
}

var asRoot = WithActor(context.Background(), api.Root)

func newAgent(t *testing.T, k *Kavach) *api.AgentWithToken {
	t.Helper()
	a, err := k.Agents().Create(asRoot, api.CreateAgentRequest{OwnerID: "alice", Name: "x",
		Permissions: []agent.Permission{{Resource: "mcp:*", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func wantToken(t *testing.T, k *Kavach, token, agentID string, code api.DecisionCode) {
	t.Helper()
	id, res := k.resolveToken(context.Background(), api.Root, token, k.clock())
	switch {
	case code == "" && (res != nil || id != agentID):
		t.Fatalf("token resolved to %q, %+v; want %s", id, res, agentID)
	case code != "" && (res == nil || res.Code != code):
		t.Fatalf("token resolved to %q, %+v; want %s", id, res, code)
	}
}

func TestSecretKeyIsTheStoredHash(t *testing.T) {
	for _, s := range []string{agent.MintToken(), agent.MintAPIKey()} {
		if got, want := keyOf(s).hash(), agent.HashToken(s); got != want {
			t.Fatalf("%s: cache key %s, stored hash %s", s, got, want)
		}
	}
}

func holder(id string) tokenHolder {
	return holderOf(&agent.Agent{ID: id, TenantID: "default", OwnerID: "alice"})
}

func TestSecretCacheBookkeeping(t *testing.T) {
	c := newSecretCache[tokenHolder](3)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	k1, k2, k3, k4 := keyOf("1"), keyOf("2"), keyOf("3"), keyOf("4")
	c.put(c.generation(), k1, holder("agt_a"), time.Time{})
	c.put(c.generation(), k2, holder("agt_a"), now.Add(time.Minute)) // the agent's old token, in its grace period
	c.put(c.generation(), k3, holder("agt_b"), time.Time{})
	if h, ok := c.get(k2, now); !ok || h.agentID() != "agt_a" || !h.visibleTo(api.Actor{Role: api.RoleUser, TenantID: "default", OwnerID: "alice"}) ||
		h.visibleTo(api.Actor{Role: api.RoleUser, TenantID: "default", OwnerID: "bob"}) {
		t.Fatalf("grace token: %+v %v", h, ok)
	}
	if _, ok := c.get(k2, now.Add(time.Minute)); ok || c.len() != 2 {
		t.Fatalf("a grace token is served at the end of what is known of its grace period (%d entries)", c.len())
	}

	// A lookup that began before a change inserts nothing.
	gen := c.generation()
	c.forget("agt_nobody")
	c.put(gen, k4, holder("agt_c"), time.Time{})
	if _, ok := c.get(k4, now); ok {
		t.Fatal("an insert from before a change was kept")
	}

	c.forget("agt_a")
	if _, ok := c.get(k1, now); ok || c.len() != 1 || len(c.first) != 1 || len(c.more) != 0 {
		t.Fatalf("forgetting an agent: %d entries, %v, %v", c.len(), c.first, c.more)
	}

	// At the cap an insert evicts one entry; the group index follows.
	for i := range 10 {
		c.put(c.generation(), keyOf(fmt.Sprint("k", i)), holder(fmt.Sprint("agt_", i%4)), time.Time{})
	}
	if c.len() != 3 {
		t.Fatalf("%d entries in a cache of 3", c.len())
	}
	indexed := len(c.first)
	for _, ks := range c.more {
		indexed += len(ks)
	}
	if indexed != c.len() {
		t.Fatalf("%d keys indexed for %d entries", indexed, c.len())
	}

	// Two keys that share the head the entries are indexed by are told apart; the later
	// one replaces the earlier, in its group too.
	c.reset(true)
	var x, y secretKey
	x[31], y[31] = 1, 2
	c.put(c.generation(), x, holder("agt_x"), time.Time{})
	if _, ok := c.get(y, now); ok {
		t.Fatal("a key was answered with the entry of another key sharing its head")
	}
	c.put(c.generation(), y, holder("agt_y"), time.Time{})
	c.forget("agt_x")
	if h, ok := c.get(y, now); !ok || h.agentID() != "agt_y" || c.len() != 1 || len(c.first) != 1 {
		t.Fatalf("after a head collision: %+v %v, %d entries, %v", h, ok, c.len(), c.first)
	}

	// While off (the change feed is down), nothing is kept.
	c.reset(false)
	c.put(c.generation(), k1, holder("agt_a"), time.Time{})
	if c.len() != 0 {
		t.Fatal("an entry was kept while the cache was off")
	}
	off := newSecretCache[keyHolder](-1)
	off.reset(true)
	off.put(off.generation(), k1, keyHolder{id: "key_1"}, time.Time{})
	if off.len() != 0 {
		t.Fatal("a cache configured off kept an entry")
	}
}

func TestUnknownTokensAreNotCached(t *testing.T) {
	eachStore(t, func(t *testing.T, k *Kavach) {
		for range 3 {
			wantToken(t, k, agent.MintToken(), "", api.TokenInvalid)
		}
		if n := k.tokens.len(); n != 0 {
			t.Fatalf("%d entries for unknown tokens", n)
		}
	})
}

// A cached token is answered from memory: rotated behind the cache's back, the old token
// still resolves until the agent's entries are dropped. (On SQLite: on Postgres the
// store's own change feed would drop them.)
func TestTokenCacheAnswersFromMemory(t *testing.T) {
	k := openForCache(t, "sqlite://"+filepath.Join(t.TempDir(), "kavach.db"))
	a := newAgent(t, k)
	wantToken(t, k, a.Token, a.ID, "")
	if n := k.tokens.len(); n != 1 {
		t.Fatalf("%d entries after one lookup", n)
	}
	next := agent.MintToken()
	if _, err := k.store.RotateToken(context.Background(), a.ID, agent.HashToken(next), agent.DisplayPrefix(next), time.Time{}, k.clock()); err != nil {
		t.Fatal(err)
	}
	wantToken(t, k, a.Token, a.ID, "")
	k.forgetTokens(a.ID)
	wantToken(t, k, a.Token, "", api.TokenInvalid)
	wantToken(t, k, next, a.ID, "")
}

// The race a cache must not lose: a lookup reads the store, the token is rotated (or the
// key revoked), then the lookup inserts what it read. The stale answer must not be kept.
func TestTokenRotatedDuringLookup(t *testing.T) {
	eachStore(t, func(t *testing.T, k *Kavach) {
		a := newAgent(t, k)
		rotated := false
		k.tokens.beforePut = func() {
			if !rotated {
				rotated = true
				if _, err := k.Agents().Rotate(asRoot, a.ID, api.RotateRequest{}); err != nil {
					t.Error(err)
				}
			}
		}
		wantToken(t, k, a.Token, a.ID, "") // read before the rotation: still valid then
		if !rotated || k.tokens.len() != 0 {
			t.Fatalf("rotated %v; %d entries kept", rotated, k.tokens.len())
		}
		wantToken(t, k, a.Token, "", api.TokenInvalid)
	})
}

func TestAPIKeyRevokedDuringLookup(t *testing.T) {
	eachStore(t, func(t *testing.T, k *Kavach) {
		key, err := k.APIKeys().Create(asRoot, api.CreateAPIKeyRequest{Role: api.RoleApp})
		if err != nil {
			t.Fatal(err)
		}
		revoked := false
		k.keys.beforePut = func() {
			if !revoked {
				revoked = true
				if _, err := k.APIKeys().Revoke(asRoot, key.ID); err != nil {
					t.Error(err)
				}
			}
		}
		if _, err := k.AuthenticateAPIKey(context.Background(), key.Key); err != nil || !revoked {
			t.Fatalf("the lookup that read before the revocation: %v (revoked %v)", err, revoked)
		}
		if _, err := k.AuthenticateAPIKey(context.Background(), key.Key); !api.IsUnauthenticated(err) || k.keys.len() != 0 {
			t.Fatalf("after the revocation: %v, %d entries", err, k.keys.len())
		}
	})
}

// The same race with the change made by another instance: it reaches this one through the
// change feed between the lookup's read and its insert.
func TestTokenRotatedElsewhereDuringLookup(t *testing.T) {
	url := pgtest.URL(t)
	a, b := openForCache(t, url), openForCache(t, url)
	x := newAgent(t, a)
	waitForChanges(t, b, 1) // the agent's creation
	var rotated bool
	b.tokens.beforePut = func() {
		if rotated {
			return
		}
		rotated = true
		if _, err := a.Agents().Rotate(asRoot, x.ID, api.RotateRequest{}); err != nil {
			t.Error(err)
		}
		waitForChanges(t, b, 2)
	}
	wantToken(t, b, x.Token, x.ID, "")
	if !rotated || b.tokens.len() != 0 {
		t.Fatalf("rotated %v; %d entries kept", rotated, b.tokens.len())
	}
	wantToken(t, b, x.Token, "", api.TokenInvalid)
}

// waitForChanges waits until k has applied n changes from the change feed.
func waitForChanges(t *testing.T, k *Kavach, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, _, _, applied := k.FeedStatus(); applied >= n {
			return
		}
	}
	t.Errorf("the instance never applied %d changes", n)
}

// While the change feed is down the caches are empty and keep nothing: changes made on
// other instances would not reach them. A resync turns them back on.
func TestSecretCachesFollowTheFeed(t *testing.T) {
	k := openForCache(t, pgtest.URL(t))
	x := newAgent(t, k)
	waitForChanges(t, k, 1) // its own announcement of the creation drops the agent's tokens
	wantToken(t, k, x.Token, x.ID, "")
	if k.tokens.len() != 1 {
		t.Fatal("not cached while synced")
	}
	k.feed.lost(errors.New("test: connection lost"))
	if k.tokens.len() != 0 {
		t.Fatal("entries kept after the feed was lost")
	}
	wantToken(t, k, x.Token, x.ID, "")
	if k.tokens.len() != 0 {
		t.Fatal("cached while the feed was down")
	}
	if err := k.feed.resync(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantToken(t, k, x.Token, x.ID, "")
	if k.tokens.len() != 1 {
		t.Fatal("not cached after the resync")
	}
}

// Readers resolve tokens while writers rotate them: once a rotation has returned, no
// lookup that starts afterwards may accept the old token, whatever was in flight.
func TestCachedTokensUnderConcurrentRotation(t *testing.T) {
	eachStore(t, func(t *testing.T, k *Kavach) {
		const agents = 8
		type state struct {
			mu      sync.Mutex
			tokens  []string         // every token ever issued to the agent
			retired map[string]int64 // token → step after which it must be refused
		}
		var step atomic.Int64
		ids := make([]string, agents)
		states := make([]*state, agents)
		for i := range ids {
			a := newAgent(t, k)
			ids[i], states[i] = a.ID, &state{tokens: []string{a.Token}, retired: map[string]int64{}}
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 { // each writer rotates its own agents, so that it knows which token is current
			wg.Go(func() {
				for r := 0; ; r++ {
					select {
					case <-stop:
						return
					default:
					}
					i := w + 2*(r%(agents/2))
					rot, err := k.Agents().Rotate(asRoot, ids[i], api.RotateRequest{})
					if err != nil {
						t.Error(err)
						return
					}
					s := states[i]
					s.mu.Lock()
					for _, old := range s.tokens {
						if _, ok := s.retired[old]; !ok {
							s.retired[old] = step.Add(1)
						}
					}
					s.tokens = append(s.tokens, rot.Token)
					s.mu.Unlock()
				}
			})
		}
		for r := range 4 {
			wg.Go(func() {
				for n := r; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					s := states[n%agents]
					s.mu.Lock()
					token := s.tokens[(n*7)%len(s.tokens)]
					s.mu.Unlock()
					began := step.Load()
					id, res := k.resolveToken(context.Background(), api.Root, token, k.clock())
					s.mu.Lock()
					at, retired := s.retired[token]
					s.mu.Unlock()
					if retired && at <= began && res == nil {
						t.Errorf("a token rotated out at step %d was accepted by a lookup begun at step %d", at, began)
						return
					}
					if res != nil && res.Code != api.TokenInvalid || res == nil && id != ids[n%agents] {
						t.Errorf("lookup: %q %+v", id, res)
						return
					}
				}
			})
		}
		time.Sleep(time.Second)
		close(stop)
		wg.Wait()
		if step.Load() == 0 {
			t.Fatal("no rotation happened")
		}
	})
}
