package ratelog_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/internal/ratelog"
)

func limit(key string, max int, window time.Duration) store.RateLimit {
	return store.RateLimit{Key: key, Max: max, Window: window}
}

func TestCheckLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		limits  []store.RateLimit
		wantErr bool
	}{
		{"none", nil, false},
		{"smallest allowed", []store.RateLimit{limit("k", 1, time.Microsecond)}, false},
		{"ordinary", []store.RateLimit{limit("k", 10, time.Minute), limit("k", 100, time.Hour)}, false},
		{"max zero", []store.RateLimit{limit("k", 0, time.Minute)}, true},
		{"max negative", []store.RateLimit{limit("k", -1, time.Minute)}, true},
		{"window zero", []store.RateLimit{limit("k", 1, 0)}, true},
		{"window below a microsecond", []store.RateLimit{limit("k", 1, time.Microsecond-1)}, true},
		{"window negative", []store.RateLimit{limit("k", 1, -time.Second)}, true},
		{"one bad among good", []store.RateLimit{limit("a", 1, time.Second), limit("b", 0, time.Second)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := ratelog.CheckLimits(tt.limits); (err != nil) != tt.wantErr {
				t.Fatalf("CheckLimits(%v) = %v, want error %v", tt.limits, err, tt.wantErr)
			}
		})
	}
}

func TestWidest(t *testing.T) {
	t.Parallel()
	got := ratelog.Widest([]store.RateLimit{
		limit("a", 1, time.Second), limit("b", 5, time.Minute), limit("a", 9, time.Hour), limit("a", 2, time.Minute),
	})
	want := map[string]time.Duration{"a": time.Hour, "b": time.Minute}
	if len(got) != len(want) || got["a"] != want["a"] || got["b"] != want["b"] {
		t.Fatalf("Widest = %v, want %v", got, want)
	}
}

func TestSinceIndex(t *testing.T) {
	t.Parallel()
	log := []int64{10, 20, 20, 30}
	tests := []struct {
		from int64
		want int
	}{
		{0, 0}, {9, 0}, {10, 1}, {19, 1}, {20, 3}, {29, 3}, {30, 4}, {100, 4},
	}
	for _, tt := range tests {
		if got := ratelog.SinceIndex(log, tt.from); got != tt.want {
			t.Errorf("SinceIndex(%v, %d) = %d, want %d", log, tt.from, got, tt.want)
		}
	}
	if got := ratelog.SinceIndex(nil, 5); got != 0 {
		t.Errorf("SinceIndex(nil, 5) = %d, want 0", got)
	}
}

// TestSlidingWindowAdmission replays calls against one limit, charging each one admitted,
// and checks which are admitted: a time leaves the window exactly a window after it.
func TestSlidingWindowAdmission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		limit store.RateLimit
		calls []int64 // µs, ascending
		want  []bool
	}{
		{
			name:  "two per 10µs",
			limit: limit("k", 2, 10*time.Microsecond),
			calls: []int64{0, 1, 2, 9, 10, 11, 12, 20, 21},
			want:  []bool{true, true, false, false, true, true, false, true, true},
		},
		{
			name:  "one per microsecond",
			limit: limit("k", 1, time.Microsecond),
			calls: []int64{5, 5, 6, 6, 8},
			want:  []bool{true, false, true, false, true},
		},
		{
			name:  "rejected calls are not charged",
			limit: limit("k", 1, 100*time.Microsecond),
			calls: []int64{0, 50, 99, 100, 150, 199, 200},
			want:  []bool{true, false, false, true, false, false, true},
		},
		{
			name:  "burst up to max",
			limit: limit("k", 3, time.Second),
			calls: []int64{1, 1, 1, 1, 1_000_000, 1_000_001},
			want:  []bool{true, true, true, false, false, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log []int64
			for i, now := range tt.calls {
				ok := ratelog.RetryAfter(log, tt.limit, now) == 0
				if ok != tt.want[i] {
					t.Fatalf("call %d at %dµs (log %v): admitted %v, want %v", i, now, log, ok, tt.want[i])
				}
				remaining := ratelog.Remaining(map[string][]int64{tt.limit.Key: log}, []store.RateLimit{tt.limit}, now)
				if (remaining > 0) != ok {
					t.Fatalf("call %d at %dµs: Remaining %d disagrees with admitted %v", i, now, remaining, ok)
				}
				if ok {
					log = ratelog.WithStamp(log, now)
				}
			}
		})
	}
}

func TestRetryAfterIsExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		log   []int64
		limit store.RateLimit
		now   int64
		want  time.Duration
	}{
		{"empty log", nil, limit("k", 1, time.Second), 0, 0},
		{"below max", []int64{100}, limit("k", 2, time.Millisecond), 150, 0},
		{"oldest aged out", []int64{100, 200}, limit("k", 2, 100*time.Microsecond), 200, 0},
		{"full: wait for the oldest", []int64{100, 200}, limit("k", 2, time.Millisecond), 300, 800 * time.Microsecond},
		{"over max: wait for enough to leave", []int64{100, 200, 300}, limit("k", 2, time.Millisecond), 350, 850 * time.Microsecond},
		{"one microsecond short", []int64{51}, limit("k", 1, time.Millisecond), 1050, time.Microsecond},
		{"only the window counts", []int64{0, 10, 900, 950}, limit("k", 2, 100*time.Microsecond), 960, 40 * time.Microsecond},
		{"window wider than a second", []int64{0}, limit("k", 1, 90*time.Second), 30_000_000, 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ratelog.RetryAfter(tt.log, tt.limit, tt.now)
			if got != tt.want {
				t.Fatalf("RetryAfter(%v, %v, %d) = %s, want %s", tt.log, tt.limit, tt.now, got, tt.want)
			}
			if got == 0 {
				return
			}
			// Exact: admitted once the wait is over, and not a microsecond sooner.
			at := tt.now + got.Microseconds()
			if again := ratelog.RetryAfter(tt.log, tt.limit, at); again != 0 {
				t.Errorf("after waiting %s: RetryAfter = %s, want 0", got, again)
			}
			if early := ratelog.RetryAfter(tt.log, tt.limit, at-1); early != time.Microsecond {
				t.Errorf("a microsecond before the wait ends: RetryAfter = %s, want 1µs", early)
			}
		})
	}
}

// TestWaitAndRemaining checks the two answers over several limits against one set of
// logs: how long until all of them admit a call, and how many calls the tightest admits.
func TestWaitAndRemaining(t *testing.T) {
	t.Parallel()
	logs := map[string][]int64{"a": {10, 20, 30}, "b": {25}}
	const us = time.Microsecond
	tests := []struct {
		name      string
		limits    []store.RateLimit
		wait      time.Duration
		remaining int
	}{
		{"no limits", nil, 0, math.MaxInt},
		{"unknown key", []store.RateLimit{limit("c", 4, time.Second)}, 0, 4},
		{"whole log in window", []store.RateLimit{limit("a", 5, time.Second)}, 0, 2},
		{"part of the log in window", []store.RateLimit{limit("a", 5, 15*us)}, 0, 3},
		{"exhausted, never negative", []store.RateLimit{limit("a", 2, time.Second)}, 999_990 * us, 0},
		{"most constrained wins", []store.RateLimit{limit("a", 10, time.Second), limit("b", 2, time.Second)}, 0, 1},
		{"one full", []store.RateLimit{limit("a", 4, time.Second), limit("b", 1, 100*us)}, 95 * us, 0},
		{"longest wait wins", []store.RateLimit{limit("a", 3, 100*us), limit("b", 1, 100*us)}, 95 * us, 0},
		{"limits on one key", []store.RateLimit{limit("a", 3, 100*us), limit("a", 1, 50*us)}, 80 * us, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ratelog.Wait(logs, tt.limits, 30); got != tt.wait {
				t.Errorf("Wait = %s, want %s", got, tt.wait)
			}
			if got := ratelog.Remaining(logs, tt.limits, 30); got != tt.remaining {
				t.Errorf("Remaining = %d, want %d", got, tt.remaining)
			}
		})
	}
}

func TestWithStampKeepsOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		log  []int64
		now  int64
		want []int64
	}{
		{"empty", nil, 5, []int64{5}},
		{"latest", []int64{1, 2}, 3, []int64{1, 2, 3}},
		{"between", []int64{1, 5}, 3, []int64{1, 3, 5}},
		{"earliest", []int64{4, 5}, 3, []int64{3, 4, 5}},
		{"equal to an existing time", []int64{1, 3, 5}, 3, []int64{1, 3, 3, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := slices.Clone(tt.log)
			got := ratelog.WithStamp(tt.log, tt.now)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("WithStamp(%v, %d) = %v, want %v", tt.log, tt.now, got, tt.want)
			}
			if !slices.Equal(tt.log, before) {
				t.Fatalf("WithStamp changed its input to %v", tt.log)
			}
		})
	}
}

// A log read as a window of a longer slice must not have the rest of that slice
// overwritten when a time is added.
func TestWithStampLeavesBackingArray(t *testing.T) {
	t.Parallel()
	backing := []int64{1, 2, 3, 4}
	got := ratelog.WithStamp(backing[:2], 9)
	if !slices.Equal(got, []int64{1, 2, 9}) {
		t.Fatalf("WithStamp = %v, want [1 2 9]", got)
	}
	if !slices.Equal(backing, []int64{1, 2, 3, 4}) {
		t.Fatalf("backing array changed to %v", backing)
	}
}
