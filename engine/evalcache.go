package engine

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// evalCaches are the two caches OPA's evaluator keeps for one evaluation: the values of
// rules and function calls already evaluated (topdown.VirtualCache) and the documents
// already read from storage (topdown.BaseCache). OPA's own build a trie of hash maps, a
// map and a node per key on every evaluation; a decision puts about six values in the one
// and two in the other, so these keep their keys in flat slices, reused from one
// evaluation to the next. Their behaviour is OPA's (TestVirtualCacheBehavesAsOPAs,
// TestBaseCache, TestEvalCachesGiveOPAsAnswers).
type evalCaches struct {
	virtual virtualCache
	base    baseCache
}

var evalCachePool = sync.Pool{New: func() any { return new(evalCaches) }}

// newEvalCaches returns empty caches for one evaluation; give them back with release once
// the evaluation has returned.
func newEvalCaches() *evalCaches {
	c := evalCachePool.Get().(*evalCaches)
	c.virtual.reset()
	return c
}

// release empties the caches, so that the pool holds no value of the evaluation, and gives
// them back. Caches grown by an unusual evaluation (custom rules calling a function on
// thousands of arguments) are left to the garbage collector.
func (c *evalCaches) release() {
	if cap(c.virtual.keys) > maxPooledTerms {
		return
	}
	c.virtual.clear()
	c.base.clear()
	evalCachePool.Put(c)
}

const maxPooledTerms = 1024

var refSeed = maphash.MakeSeed()

// refHash hashes a reference so that equal references (ast.Term.Equal, element by
// element) hash alike. Strings and variables, nearly every element of the references the
// evaluator caches, are hashed without allocating.
func refHash(ref ast.Ref) uint64 {
	h := uint64(len(ref))
	for _, t := range ref {
		var x uint64
		switch v := t.Value.(type) {
		case ast.String:
			x = maphash.String(refSeed, string(v))
		case ast.Var:
			x = maphash.String(refSeed, string(v)) ^ 0x9e3779b97f4a7c15
		default:
			x = uint64(t.Hash())
		}
		h = (h^x)*0x100000001b3 + 0x2545f4914f6cdd1d
	}
	return h
}

func equalTerms(a, b []*ast.Term) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// virtualCache implements topdown.VirtualCache: a stack of frames, each mapping a
// reference to a value or to "undefined". Entries are appended in order; a frame is the
// entries from its start to the end, so Pop is a truncation.
type virtualCache struct {
	keys    []*ast.Term // every entry's reference, one after the other
	entries []virtualEntry
	frames  []int // where each frame's entries start; the last is the active frame
	// byHash indexes the entries by hash once there are more than a linear search should
	// cover: entry i's chain continues at entries[i].prev.
	byHash map[uint64]int
}

type virtualEntry struct {
	hash      uint64
	off       int         // where key starts in keys
	key       []*ast.Term // keys[off:off+len(key)], in keys' array as it was when put
	value     *ast.Term
	undefined bool
	prev      int // the previous entry with the same hash, or -1 (used with byHash)
}

// linearEntries is how many entries are searched one by one before they are indexed.
const linearEntries = 32

var _ topdown.VirtualCache = (*virtualCache)(nil)

func (c *virtualCache) reset() {
	c.frames = append(c.frames[:0], 0)
}

func (c *virtualCache) clear() {
	c.keys, c.entries, c.byHash = emptied(c.keys), emptied(c.entries), nil
}

// emptied zeroes s, so that it holds on to nothing, and returns it with length 0.
func emptied[S ~[]E, E any](s S) S {
	clear(s)
	return s[:0]
}

func (c *virtualCache) Push() { c.frames = append(c.frames, len(c.entries)) }

func (c *virtualCache) Pop() {
	start := c.frames[len(c.frames)-1]
	c.frames = c.frames[:len(c.frames)-1]
	if start == len(c.entries) {
		return
	}
	for i := len(c.entries) - 1; c.byHash != nil && i >= start; i-- {
		if p := c.entries[i].prev; p >= 0 {
			c.byHash[c.entries[i].hash] = p
		} else {
			delete(c.byHash, c.entries[i].hash)
		}
	}
	// The popped entries' keys are the tail of keys.
	k := c.entries[start].off
	clear(c.keys[k:])
	c.keys = c.keys[:k]
	clear(c.entries[start:])
	c.entries = c.entries[:start]
}

// find returns the index of the active frame's entry for ref, or -1.
func (c *virtualCache) find(ref ast.Ref, h uint64) int {
	start := c.frames[len(c.frames)-1]
	if c.byHash != nil {
		i, ok := c.byHash[h]
		for ok && i >= start {
			if equalTerms(c.entries[i].key, ref) {
				return i
			}
			i = c.entries[i].prev
			ok = i >= 0
		}
		return -1
	}
	for i := len(c.entries) - 1; i >= start; i-- {
		if c.entries[i].hash == h && equalTerms(c.entries[i].key, ref) {
			return i
		}
	}
	return -1
}

// Get follows OPA's contract: (value, false) when cached, (nil, true) when cached as
// undefined, (nil, false) when not cached.
func (c *virtualCache) Get(ref ast.Ref) (*ast.Term, bool) {
	i := c.find(ref, refHash(ref))
	if i < 0 {
		return nil, false
	}
	if c.entries[i].undefined {
		return nil, true
	}
	return c.entries[i].value, false
}

// Put records ref's value, or that it is undefined when value is nil. As in OPA's cache,
// a reference once undefined stays undefined in its frame.
func (c *virtualCache) Put(ref ast.Ref, value *ast.Term) {
	h := refHash(ref)
	if i := c.find(ref, h); i >= 0 {
		if value != nil {
			c.entries[i].value = value
		} else {
			c.entries[i].undefined = true
		}
		return
	}
	// The evaluator reuses the slice it passes as ref: the key is copied. A key keeps
	// pointing into the array it was appended to when append moves keys to a larger one:
	// that array is not written again.
	k := len(c.keys)
	c.keys = append(c.keys, ref...)
	e := virtualEntry{hash: h, off: k, key: c.keys[k:len(c.keys):len(c.keys)], value: value, undefined: value == nil, prev: -1}
	if c.byHash == nil && len(c.entries) >= linearEntries {
		c.byHash = make(map[uint64]int, 2*linearEntries)
		for i := range c.entries {
			c.index(i)
		}
	}
	c.entries = append(c.entries, e)
	if c.byHash != nil {
		c.index(len(c.entries) - 1)
	}
}

func (c *virtualCache) index(i int) {
	if p, ok := c.byHash[c.entries[i].hash]; ok {
		c.entries[i].prev = p
	} else {
		c.entries[i].prev = -1
	}
	c.byHash[c.entries[i].hash] = i
}

func (c *virtualCache) Keys() []ast.Ref {
	var out []ast.Ref
	for _, e := range c.entries[c.frames[len(c.frames)-1]:] {
		if e.value != nil {
			out = append(out, slices.Clone(ast.Ref(e.key)))
		}
	}
	return out
}

// baseCache implements topdown.BaseCache: documents read from storage by reference. As in
// OPA's trie, a lookup is answered by the shortest cached reference that is a prefix of
// the one asked for, and a reference's elements are compared as Go compares the values
// (1 and 1.0 are different keys, as they are different storage paths). The first
// maxBaseEntries documents are kept in a slice; more go to a map keyed by the reference's
// encoding, where a lookup tries each prefix of the reference in turn. A document stored
// over others is looked up before them (its reference is shorter), so they need not be
// removed from the map.
type baseCache struct {
	keys    []*ast.Term
	entries []baseEntry
	more    map[string]ast.Value
}

type baseEntry struct {
	key   []*ast.Term
	value ast.Value
}

const maxBaseEntries = 64

var _ topdown.BaseCache = (*baseCache)(nil)

func (c *baseCache) clear() {
	c.keys, c.entries, c.more = emptied(c.keys), emptied(c.entries), nil
}

// sameKey compares two references element by element as OPA's trie does, by Go's ==
// on the values; references with an element that is not a scalar are never equal (the
// evaluator does not cache them).
func sameKey(a, b []*ast.Term) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !scalarKey(a[i]) || !scalarKey(b[i]) || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

func scalarKey(t *ast.Term) bool {
	switch t.Value.(type) {
	case ast.String, ast.Number, ast.Boolean, ast.Null, ast.Var:
		return true
	}
	return false
}

// appendKeyTerm appends an unambiguous encoding of a scalar element, for the map.
func appendKeyTerm(b []byte, t *ast.Term) []byte {
	var tag byte
	var text string
	switch v := t.Value.(type) {
	case ast.String:
		tag, text = 's', string(v)
	case ast.Number:
		tag, text = 'n', string(v)
	case ast.Var:
		tag, text = 'v', string(v)
	case ast.Boolean:
		tag, text = 'b', strconv.FormatBool(bool(v))
	default:
		tag = 'z'
	}
	b = binary.AppendUvarint(append(b, tag), uint64(len(text)))
	return append(b, text...)
}

func (c *baseCache) Get(ref ast.Ref) ast.Value {
	best := -1
	for i, e := range c.entries {
		if len(e.key) <= len(ref) && sameKey(e.key, ref[:len(e.key)]) && (best < 0 || len(e.key) < len(c.entries[best].key)) {
			best = i
		}
	}
	var value ast.Value
	n := -1
	if best >= 0 {
		value, n = c.entries[best].value, len(c.entries[best].key)
	}
	if c.more != nil {
		var buf [256]byte
		k := buf[:0]
		for i := 0; i < len(ref) && (n < 0 || i+1 < n); i++ {
			if !scalarKey(ref[i]) {
				break
			}
			k = appendKeyTerm(k, ref[i])
			if v, ok := c.more[string(k)]; ok {
				value, n = v, i+1
				break
			}
		}
	}
	if n < 0 {
		return nil
	}
	if n == len(ref) {
		return value
	}
	v, err := value.Find(ref[n:])
	if err != nil {
		return nil
	}
	return v
}

func (c *baseCache) Put(ref ast.Ref, value ast.Value) {
	for _, t := range ref {
		if !scalarKey(t) {
			return
		}
	}
	if c.more == nil && len(c.entries) < maxBaseEntries && len(c.keys)+len(ref) <= maxPooledTerms {
		kept := c.entries[:0]
		for _, e := range c.entries {
			if len(e.key) < len(ref) || !sameKey(e.key[:len(ref)], ref) {
				kept = append(kept, e)
			}
		}
		clear(c.entries[len(kept):])
		c.entries = kept
		// Keys of replaced entries stay in keys until the evaluation ends. As in
		// virtualCache, a key stays in the array it was appended to.
		k := len(c.keys)
		c.keys = append(c.keys, ref...)
		c.entries = append(c.entries, baseEntry{key: c.keys[k:len(c.keys):len(c.keys)], value: value})
		return
	}
	for i := range c.entries { // the same reference again: replace it where it is
		if sameKey(c.entries[i].key, ref) {
			c.entries[i].value = value
			return
		}
	}
	if c.more == nil {
		c.more = make(map[string]ast.Value)
	}
	var k []byte
	for _, t := range ref {
		k = appendKeyTerm(k, t)
	}
	c.more[string(k)] = value
}
