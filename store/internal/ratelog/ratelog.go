// Package ratelog is the pure part of the exact sliding-window log both backends keep:
// how a key's admission times decide whether a rate limit admits a call, and when.
//
// A log is its admission times in Unix microseconds, ascending; a time t is inside a
// window of length w at now when t > now-w.
package ratelog

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/kavachos/kavach-go/store"
)

// CheckLimits rejects a limit that could never admit a call or whose window is finer
// than the log's microsecond resolution.
func CheckLimits(limits []store.RateLimit) error {
	for _, l := range limits {
		if l.Max < 1 || l.Window < time.Microsecond {
			return fmt.Errorf("rate limit %s: max %d per %s: want at least 1 per 1µs", l.Key, l.Max, l.Window)
		}
	}
	return nil
}

// Widest returns, per key, the widest window charged under that key: the part of the
// key's log that any of the limits can still see.
func Widest(limits []store.RateLimit) map[string]time.Duration {
	widest := map[string]time.Duration{}
	for _, l := range limits {
		widest[l.Key] = max(widest[l.Key], l.Window)
	}
	return widest
}

// SinceIndex is the index of the first time in log after from.
func SinceIndex(log []int64, from int64) int {
	return sort.Search(len(log), func(i int) bool { return log[i] > from })
}

// InWindow returns the times of log inside l's window at now.
func InWindow(log []int64, l store.RateLimit, now int64) []int64 {
	return log[SinceIndex(log, now-l.Window.Microseconds()):]
}

// RetryAfter is zero if l admits a call at now, else how long until enough of its
// window's calls have aged out to admit one (at least a microsecond).
func RetryAfter(log []int64, l store.RateLimit, now int64) time.Duration {
	live := InWindow(log, l, now)
	if len(live) < l.Max {
		return 0
	}
	// The call that must leave the window is the (len-Max+1)-th oldest.
	free := live[len(live)-l.Max] + l.Window.Microseconds()
	return time.Duration(max(free-now, 1)) * time.Microsecond
}

// Wait is how long until every one of limits admits a call, given each key's log: the
// longest RetryAfter, zero when all of them admit one at now.
func Wait(logs map[string][]int64, limits []store.RateLimit, now int64) time.Duration {
	var wait time.Duration
	for _, l := range limits {
		wait = max(wait, RetryAfter(logs[l.Key], l, now))
	}
	return wait
}

// Remaining returns how many calls the most constrained of limits still admits at now,
// given each key's log (math.MaxInt when there are no limits).
func Remaining(logs map[string][]int64, limits []store.RateLimit, now int64) int {
	left := math.MaxInt
	for _, l := range limits {
		left = min(left, max(0, l.Max-len(InWindow(logs[l.Key], l, now))))
	}
	return left
}

// WithStamp returns log with now added in order. It never writes into log's backing
// array, which may belong to the caller.
func WithStamp(log []int64, now int64) []int64 {
	return slices.Insert(slices.Clip(log), SinceIndex(log, now), now)
}
