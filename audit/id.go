package audit

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// lastV7 is the last timestamp handed out by NewID: Unix milliseconds shifted left by 12,
// plus a sub-millisecond sequence in the low 12 bits, as google/uuid lays out UUIDv7's
// rand_a field. Each call takes a larger value than the last, so ids of one process sort
// in the order they were made.
var lastV7 atomic.Int64

// NewID returns a UUIDv7: unique and ordered by time. It is made without a lock or a
// system call (the random bits come from the runtime's per-thread ChaCha8 generator,
// seeded by the operating system) because every decision needs one.
func NewID() string {
	t := v7Time()
	var u [16]byte
	binary.BigEndian.PutUint64(u[:8], uint64(t>>12)<<16|0x7000|uint64(t&0xfff))
	binary.BigEndian.PutUint64(u[8:], rand.Uint64()&^(3<<62)|1<<63) // variant 10
	return formatUUID(&u)
}

func v7Time() int64 {
	nano := time.Now().UnixNano()
	milli := nano / int64(time.Millisecond)
	now := milli<<12 + (nano-milli*int64(time.Millisecond))>>8
	for {
		last := lastV7.Load()
		next := max(now, last+1)
		if lastV7.CompareAndSwap(last, next) {
			return next
		}
	}
}

const hexDigits = "0123456789abcdef"

// formatUUID writes u in the canonical 8-4-4-4-12 form.
func formatUUID(u *[16]byte) string {
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexDigits[c>>4], hexDigits[c&0xf]
		j += 2
	}
	return string(b[:])
}
