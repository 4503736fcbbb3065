package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/internal/ratelog"
)

// Consume checks every limit and the approval, then charges them, in one round trip: the
// kavach_consume function does it all server-side, in one statement, locking the rate rows
// in key order and then the approval row. Instances sharing the database therefore share
// the limits exactly.
func (s *Store) Consume(ctx context.Context, c store.Consumption) (store.ConsumeResult, error) {
	if err := ratelog.CheckLimits(c.Limits); err != nil {
		return store.ConsumeResult{}, err
	}
	keys := make([]string, len(c.Limits))
	maxes := make([]int32, len(c.Limits))
	windows := make([]int64, len(c.Limits))
	for i, l := range c.Limits {
		keys[i], maxes[i], windows[i] = l.Key, int32(l.Max), l.Window.Microseconds()
	}
	var (
		res  store.ConsumeResult
		wait int64
	)
	err := s.pool.QueryRow(ctx, `SELECT ok, retry_after, approval_gone FROM kavach_consume($1, $2, $3, $4, $5)`,
		keys, maxes, windows, c.Now.UnixMicro(), c.ApprovalID).Scan(&res.OK, &wait, &res.ApprovalGone)
	if err != nil {
		return store.ConsumeResult{}, mapErr(err, "consume")
	}
	res.RetryAfter = time.Duration(wait) * time.Microsecond
	return res, nil
}

// RateRemaining returns how many calls the most constrained limit still admits at now.
func (s *Store) RateRemaining(ctx context.Context, limits []store.RateLimit, now time.Time) (int, error) {
	if err := ratelog.CheckLimits(limits); err != nil {
		return 0, err
	}
	at := now.UnixMicro()
	logs, err := readLogs(ctx, s.pool, "", limits, at)
	if err != nil {
		return 0, mapErr(err, "rate remaining")
	}
	return ratelog.Remaining(logs, limits, at), nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readLogs returns, per key, the admission times still inside the widest window charged
// under that key. lock is appended to the query (FOR UPDATE, or nothing).
func readLogs(ctx context.Context, q querier, lock string, limits []store.RateLimit, now int64) (map[string][]int64, error) {
	widest := ratelog.Widest(limits)
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
		logs[key] = slices.Clone(log[ratelog.SinceIndex(log, now-widest[key].Microseconds()):])
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
