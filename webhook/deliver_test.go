package webhook

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	base := 500 * time.Millisecond
	for retry, ceiling := range map[int]time.Duration{1: base, 2: 2 * base, 3: 4 * base, 7: MaxBackoff, 100: MaxBackoff} {
		for range 50 {
			if d := backoff(base, retry); d < ceiling/2 || d > ceiling {
				t.Fatalf("backoff(%s, %d) = %s, want within [%s, %s]", base, retry, d, ceiling/2, ceiling)
			}
		}
	}
	if d := backoff(time.Hour, 1); d > MaxBackoff {
		t.Errorf("backoff(1h, 1) = %s, want at most %s", d, MaxBackoff)
	}
}
