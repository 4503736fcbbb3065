package agent

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// ID prefixes. An ID is a prefix and 26 characters of lower-case Crockford base32: 48 bits
// of milliseconds then 80 random bits, so IDs sort by creation time and never collide in
// practice.
const (
	PrefixAgent      = "agt_"
	PrefixPermission = "perm_"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// last is the most recent ID's 128 bits. IDs made in the same millisecond (or after the
// clock stepped back) increment it, so IDs from one process are strictly increasing.
var (
	mu       sync.Mutex
	lastHi   uint64 // 48 bits of ms, then 16 random bits
	lastLo   uint64
	haveLast bool
)

// NewID returns a new sortable random ID with the given prefix.
func NewID(prefix string) string {
	var r [10]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("agent: crypto/rand failed: " + err.Error()) // the OS has no entropy: nothing is safe
	}
	ms := uint64(time.Now().UnixMilli())
	hi := ms<<16 | uint64(binary.BigEndian.Uint16(r[:2]))
	lo := binary.BigEndian.Uint64(r[2:])

	mu.Lock()
	if haveLast && ms <= lastHi>>16 {
		hi, lo = lastHi, lastLo+1
		if lo == 0 {
			hi++
		}
	}
	lastHi, lastLo, haveLast = hi, lo, true
	mu.Unlock()

	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return prefix + encode128(b)
}

// encode128 writes 128 bits as 26 base32 digits, most significant first.
func encode128(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
