// Package latency records durations into a fixed log-linear histogram, so benchmarks and the
// load driver can report percentiles without storing every sample or allocating per record.
package latency

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits sets the precision: each power of two is split into 2^subBits buckets, so a
// reported percentile is within 1/64 (1.6%) of the true value.
const (
	subBits  = 6
	subCount = 1 << subBits
	maxExp   = 42 // 2^42 ns is over an hour; longer samples land in the last bucket
	buckets  = (maxExp-subBits+1)*subCount + subCount
)

// Histogram is safe for concurrent use; Record does not allocate.
type Histogram struct {
	counts [buckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Uint64
}

func index(v uint64) int {
	if v < subCount {
		return int(v)
	}
	exp := bits.Len64(v) - 1 // v is in [2^exp, 2^(exp+1))
	if exp > maxExp {
		return buckets - 1
	}
	sub := int(v>>(exp-subBits)) - subCount
	return (exp-subBits+1)*subCount + sub
}

// bucketValue is the middle of bucket i, in nanoseconds.
func bucketValue(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	exp := i/subCount + subBits - 1
	sub := uint64(i%subCount + subCount)
	lo := sub << (exp - subBits)
	width := uint64(1) << (exp - subBits)
	return lo + width/2
}

// Record adds one sample.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[index(v)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest sample.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the sample at quantile q (0.5 for the median, 0.99 for p99).
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(time.Duration(bucketValue(i)), h.Max())
		}
	}
	return h.Max()
}
