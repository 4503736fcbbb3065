package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/internal/ratelog"
)

// Consume checks every limit and the approval, then charges them, in one transaction.
// The rate rows and the approval row are locked first (keys in sorted order, so two
// consumptions never wait on each other in a cycle); instances sharing the database
// therefore share the limits exactly.
func (s *Store) Consume(ctx context.Context, c store.Consumption) (store.ConsumeResult, error) {
	if err := ratelog.CheckLimits(c.Limits); err != nil {
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
		res.RetryAfter = ratelog.Wait(logs, c.Limits, now)
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
			if _, err := tx.Exec(ctx, `UPDATE rate_logs SET stamps = $2 WHERE key = $1`, key, ratelog.WithStamp(logs[key], now)); err != nil {
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
