package kavach

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/store"
)

// DefaultSecretCacheSize is how many agent tokens, and how many API keys, an instance
// keeps resolved in memory by default. A token costs 180 to 250 bytes of heap, depending on
// how full Go's map tables happen to be (BenchmarkSecretCacheMemory).
const DefaultSecretCacheSize = 1_000_000

// secretKey is the SHA-256 of a token or API key: what the stores index and the caches
// are keyed by.
type secretKey [sha256.Size]byte

func keyOf(secret string) secretKey {
	var buf [64]byte // holds a well-formed secret without a heap allocation
	return sha256.Sum256(append(buf[:0], secret...))
}

// hash is the key as the stores keep it (agent.HashToken).
func (k secretKey) hash() string { return hex.EncodeToString(k[:]) }

// The caches index entries by the key's first 8 bytes and keep the other 24 in the entry,
// so that a group's index holds 8 bytes a key rather than 32; a lookup still matches all 32.
func (k secretKey) head() uint64   { return binary.LittleEndian.Uint64(k[:8]) }
func (k secretKey) rest() [24]byte { return [24]byte(k[8:]) }

// secretCache remembers what secrets resolved to, so that a call presenting one does not
// query the database. It holds only what the store said was valid, and forgets a group of
// entries (an agent's tokens, an API key) whenever the store announces a change to it:
// locally after a write, and through the change feed from other instances. A lookup that
// read the store before such a change cannot insert its answer after it: the generation
// it read under has moved on.
type secretCache[V interface{ group() string }] struct {
	max int
	gen atomic.Uint64 // advanced by every forget and reset
	on  atomic.Bool   // false while the change feed is down, or if the cache is off
	// beforePut, if set, runs before an insert takes the lock (tests force races with it).
	beforePut func()

	mu      sync.RWMutex
	entries map[uint64]cached[V] // by key head
	first   map[string]uint64    // a group's first key head
	more    map[string][]uint64  // a group's further key heads (tokens in a grace period)
}

type cached[V any] struct {
	rest  [24]byte
	val   V
	until int64 // Unix µs from which the entry no longer holds; 0: until forgotten
}

// newSecretCache returns a cache of at most size entries; size < 0 turns it off and 0
// means DefaultSecretCacheSize.
func newSecretCache[V interface{ group() string }](size int) *secretCache[V] {
	if size == 0 {
		size = DefaultSecretCacheSize
	}
	c := &secretCache[V]{max: size}
	c.reset(true)
	return c
}

// get returns the cached value for k if it holds at now.
func (c *secretCache[V]) get(k secretKey, now time.Time) (V, bool) {
	h := k.head()
	c.mu.RLock()
	e, ok := c.entries[h]
	c.mu.RUnlock()
	ok = ok && e.rest == k.rest()
	if ok && e.until != 0 && now.UnixMicro() >= e.until {
		c.mu.Lock()
		if cur, found := c.entries[h]; found && cur.rest == e.rest && cur.until == e.until {
			c.remove(h, cur.val.group())
		}
		c.mu.Unlock()
		ok = false
	}
	if !ok {
		var zero V
		return zero, false
	}
	return e.val, true
}

// generation is taken before reading the store; put inserts only if it has not moved.
func (c *secretCache[V]) generation() uint64 { return c.gen.Load() }

// put caches v for k until the given time (zero: until forgotten), unless anything was
// forgotten since gen. A full cache first evicts an arbitrary entry, as does another key
// with the same head.
func (c *secretCache[V]) put(gen uint64, k secretKey, v V, until time.Time) {
	if c.beforePut != nil {
		c.beforePut()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on.Load() || c.gen.Load() != gen {
		return
	}
	h, g := k.head(), v.group()
	if old, ok := c.entries[h]; ok {
		c.remove(h, old.val.group())
	} else if len(c.entries) >= c.max {
		for eh, e := range c.entries { // map order: a random victim
			c.remove(eh, e.val.group())
			break
		}
	}
	var u int64
	if !until.IsZero() {
		u = until.UnixMicro()
	}
	c.entries[h] = cached[V]{rest: k.rest(), val: v, until: u}
	if _, ok := c.first[g]; !ok {
		c.first[g] = h
	} else {
		c.more[g] = append(c.more[g], h)
	}
}

// remove drops one entry and its place in its group. The caller holds the lock.
func (c *secretCache[V]) remove(h uint64, g string) {
	delete(c.entries, h)
	rest := c.more[g]
	if f, ok := c.first[g]; ok && f == h {
		if len(rest) == 0 {
			delete(c.first, g)
			return
		}
		c.first[g], rest = rest[len(rest)-1], rest[:len(rest)-1]
	} else if i := slices.Index(rest, h); i >= 0 {
		rest = slices.Delete(rest, i, i+1)
	}
	if len(rest) == 0 {
		delete(c.more, g)
	} else {
		c.more[g] = rest
	}
}

// forget drops a group's entries and fails every lookup still in flight.
func (c *secretCache[V]) forget(g string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.first[g]; ok {
		delete(c.entries, f)
		for _, h := range c.more[g] {
			delete(c.entries, h)
		}
		delete(c.first, g)
		delete(c.more, g)
	}
	c.gen.Add(1)
}

// reset drops everything and turns caching on or off.
func (c *secretCache[V]) reset(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = make(map[uint64]cached[V])
	c.first = make(map[string]uint64)
	c.more = make(map[string][]uint64)
	c.gen.Add(1)
	c.on.Store(on && c.max > 0)
}

func (c *secretCache[V]) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// tokenHolder is what an agent token resolves to: the agent, and the tenant and owner that
// decide who may see it, kept in one string to keep entries small.
type tokenHolder struct {
	who              string // agent id, tenant id, owner id
	idEnd, tenantEnd int32
}

func holderOf(a *agent.Agent) tokenHolder {
	return tokenHolder{who: a.ID + a.TenantID + a.OwnerID,
		idEnd: int32(len(a.ID)), tenantEnd: int32(len(a.ID) + len(a.TenantID))}
}

func (h tokenHolder) agentID() string { return h.who[:h.idEnd] }

func (h tokenHolder) group() string { return h.agentID() }

func (h tokenHolder) visibleTo(act api.Actor) bool {
	return canSee(act, &agent.Agent{TenantID: h.who[h.idEnd:h.tenantEnd], OwnerID: h.who[h.tenantEnd:]})
}

// keyHolder is what an API key resolves to.
type keyHolder struct {
	id    string
	actor api.Actor
}

func (h keyHolder) group() string { return h.id }

// lookupToken resolves a token the cache does not hold from the store, and caches the
// answer for as long as the store says it holds: an agent's current token until the agent
// changes, a rotated-out one until its grace period ends. An unknown token is not cached.
func (k *Kavach) lookupToken(ctx context.Context, key secretKey, now time.Time) (tokenHolder, *engine.Result) {
	gen := k.tokens.generation()
	a, validUntil, err := k.store.AgentByTokenHash(ctx, key.hash(), now)
	switch {
	case store.IsNotFound(err):
		return tokenHolder{}, tokenInvalid()
	case err != nil:
		return tokenHolder{}, &engine.Result{Code: api.EngineError, Reason: "internal error: the decision failed closed", Err: err}
	}
	h := holderOf(a)
	k.tokens.put(gen, key, h, validUntil)
	return h, nil
}

func tokenInvalid() *engine.Result {
	return &engine.Result{Code: api.TokenInvalid, Reason: "the token is not valid"}
}

// forgetTokens drops an agent's cached tokens after a change to it.
func (k *Kavach) forgetTokens(agentID string) { k.tokens.forget(agentID) }

// resetSecrets drops every cached token and API key and turns the caches on or off. They
// are off while the change feed is down: changes made elsewhere would not reach them.
func (k *Kavach) resetSecrets(on bool) {
	k.tokens.reset(on)
	k.keys.reset(on)
}
