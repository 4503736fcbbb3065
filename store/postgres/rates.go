package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/store"
)

// Consume checks every limit and the approval, then charges them, in one transaction.
// The rate rows and the approval row are locked first (keys in sorted order, so two
// consumptions never wait on each other in a cycle); instances sharing the database
// therefore share the limits exactly.
func (s *Store) Consume(ctx context.Context, c store.Consumption) (store.ConsumeResult, error) {
	if err := checkLimits(c.Limits); err != nil {
		return store.ConsumeResult{}, err
	}
	now := c.Now.UnixMicro()
	var res store.ConsumeResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		res = store.ConsumeResult{}
		keys := limitKeys(c.Limits)
		if _, err := tx.Exec(ctx, `INSERT INTO rate_logs (key, stamps)
			SELECT k, '{}' FROM unnest($1::text[]) AS k ORDER BY k ON CONFLICT (key) DO NOTHING`, keys); err != nil {
			return err
		}
		logs, err := readLogs(ctx, tx, `FOR UPDATE`, c.Limits, now)
		if err != nil {
			return err
		}
		for _, l := range c.Limits {
			res.RetryAfter = max(res.RetryAfter, retryAfter(logs[l.Key], l, now))
		}
		if c.ApprovalID != "" {
			usable, err := approvalUsable(ctx, tx, c.ApprovalID, c.Now)
			if err != nil {
				return err
			}
			res.ApprovalGone = !usable
		}
		if res.RetryAfter > 0 || res.ApprovalGone {
			return nil
		}
		for _, key := range keys {
			if _, err := tx.Exec(ctx, `UPDATE rate_logs SET stamps = $2 WHERE key = $1`, key, withStamp(logs[key], now)); err != nil {
				return err
			}
		}
		if c.ApprovalID != "" {
			if _, err := tx.Exec(ctx, `UPDATE approvals SET uses_left = uses_left - 1 WHERE id = $1`, c.ApprovalID); err != nil {
				return err
			}
		}
		res.OK = true
		return nil
	})
	if err != nil {
		return store.ConsumeResult{}, mapErr(err, "consume")
	}
	return res, nil
}

// approvalUsable locks the approval and says whether it exists, is approved and has a
// use left at now.
func approvalUsable(ctx context.Context, tx pgx.Tx, id string, now time.Time) (bool, error) {
	var usable bool
	err := tx.QueryRow(ctx, `SELECT status = 'approved' AND uses_left > 0
		AND (grant_expires_at IS NULL OR grant_expires_at > $2) FROM approvals WHERE id = $1 FOR UPDATE`,
		id, now).Scan(&usable)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, err
	}
	return usable, nil
}

// RateRemaining returns how many calls the most constrained limit still admits at now.
func (s *Store) RateRemaining(ctx context.Context, limits []store.RateLimit, now time.Time) (int, error) {
	if err := checkLimits(limits); err != nil {
		return 0, err
	}
	at := now.UnixMicro()
	logs, err := readLogs(ctx, s.pool, "", limits, at)
	if err != nil {
		return 0, mapErr(err, "rate remaining")
	}
	left := math.MaxInt
	for _, l := range limits {
		left = min(left, max(0, l.Max-len(inWindow(logs[l.Key], l, at))))
	}
	return left, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readLogs returns, per key, the admission times still inside the widest window charged
// under that key. lock is appended to the query (FOR UPDATE, or nothing).
func readLogs(ctx context.Context, q querier, lock string, limits []store.RateLimit, now int64) (map[string][]int64, error) {
	widest := map[string]time.Duration{}
	for _, l := range limits {
		widest[l.Key] = max(widest[l.Key], l.Window)
	}
	logs := make(map[string][]int64, len(widest))
	if len(widest) == 0 {
		return logs, nil
	}
	rows, err := q.Query(ctx, `SELECT key, stamps FROM rate_logs WHERE key = ANY($1) ORDER BY key `+lock, limitKeys(limits))
	if err != nil {
		return nil, err
	}
	var (
		key string
		log []int64
	)
	_, err = pgx.ForEachRow(rows, []any{&key, &log}, func() error {
		logs[key] = slices.Clone(log[sinceIndex(log, now-widest[key].Microseconds()):])
		return nil
	})
	return logs, err
}

// limitKeys returns the distinct keys of limits, sorted.
func limitKeys(limits []store.RateLimit) []string {
	keys := make([]string, 0, len(limits))
	for _, l := range limits {
		keys = append(keys, l.Key)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func checkLimits(limits []store.RateLimit) error {
	for _, l := range limits {
		if l.Max < 1 || l.Window < time.Microsecond {
			return fmt.Errorf("rate limit %s: max %d per %s: want at least 1 per 1µs", l.Key, l.Max, l.Window)
		}
	}
	return nil
}

// The pure part of the sliding log. A log is its admission times in Unix microseconds,
// ascending; a time t is inside a window of length w at now when t > now-w.

// sinceIndex is the index of the first time in log after from.
func sinceIndex(log []int64, from int64) int {
	return sort.Search(len(log), func(i int) bool { return log[i] > from })
}

func inWindow(log []int64, l store.RateLimit, now int64) []int64 {
	return log[sinceIndex(log, now-l.Window.Microseconds()):]
}

// retryAfter is zero if l admits a call at now, else how long until enough of its
// window's calls have aged out to admit one (at least a microsecond).
func retryAfter(log []int64, l store.RateLimit, now int64) time.Duration {
	live := inWindow(log, l, now)
	if len(live) < l.Max {
		return 0
	}
	// The call that must leave the window is the (len-Max+1)-th oldest.
	free := live[len(live)-l.Max] + l.Window.Microseconds()
	return time.Duration(max(free-now, 1)) * time.Microsecond
}

// withStamp returns log with now added in order.
func withStamp(log []int64, now int64) []int64 {
	return slices.Insert(slices.Clip(log), sinceIndex(log, now), now)
}
