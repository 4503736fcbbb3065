package latency

import (
	"testing"
	"time"
)

func TestQuantilesAreWithinBucketPrecision(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100_000; i++ {
		h.Record(time.Duration(i) * time.Microsecond / 10) // 0.1 µs to 10 ms, uniform
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {0.001, 10 * time.Microsecond}} {
		got := h.Quantile(c.q)
		if diff := float64(got-c.want) / float64(c.want); diff < -0.02 || diff > 0.02 {
			t.Errorf("q%.3f = %v, want %v ± 2%%", c.q, got, c.want)
		}
	}
	if h.Count() != 100_000 || h.Max() != 10*time.Millisecond {
		t.Fatalf("count %d, max %v", h.Count(), h.Max())
	}
	if allocs := testing.AllocsPerRun(100, func() { h.Record(time.Millisecond) }); allocs != 0 {
		t.Fatalf("Record allocates %.0f times", allocs)
	}
}

func TestSmallAndHugeValues(t *testing.T) {
	t.Parallel()
	var h Histogram
	h.Record(-time.Second)
	h.Record(3)
	h.Record(1000 * time.Hour)
	if got := h.Quantile(0.5); got != 3 {
		t.Fatalf("median %v, want 3ns", got)
	}
	if got := h.Quantile(1); got <= 2*time.Hour {
		t.Fatalf("p100 %v, want the huge sample's bucket", got)
	}
}
