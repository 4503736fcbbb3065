package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/kavachos/kavach-go/store"
)

// Consume checks every limit and the approval, then charges them, in one write
// transaction: SQLite's single writer makes the check and the charge atomic.
func (s *Store) Consume(ctx context.Context, c store.Consumption) (store.ConsumeResult, error) {
	if err := checkLimits(c.Limits); err != nil {
		return store.ConsumeResult{}, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.ConsumeResult{}, mapErr(err, "consume")
	}
	defer tx.Rollback()
	now := micros(c.Now)
	logs, err := readLogs(ctx, tx, c.Limits, now)
	if err != nil {
		return store.ConsumeResult{}, err
	}
	var res store.ConsumeResult
	for _, l := range c.Limits {
		res.RetryAfter = max(res.RetryAfter, retryAfter(logs[l.Key], l, now))
	}
	if c.ApprovalID != "" {
		usable, err := approvalUsable(ctx, tx, c.ApprovalID, now)
		if err != nil {
			return store.ConsumeResult{}, err
		}
		res.ApprovalGone = !usable
	}
	if res.RetryAfter > 0 || res.ApprovalGone {
		return res, nil
	}
	for key, log := range logs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rate_logs (key, stamps) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET stamps = excluded.stamps`, key, encodeStamps(withStamp(log, now))); err != nil {
			return store.ConsumeResult{}, mapErr(err, "consume rate "+key)
		}
	}
	if c.ApprovalID != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE approvals SET uses_left = uses_left - 1 WHERE id = ?`, c.ApprovalID); err != nil {
			return store.ConsumeResult{}, mapErr(err, "consume approval "+c.ApprovalID)
		}
	}
	if err := tx.Commit(); err != nil {
		return store.ConsumeResult{}, mapErr(err, "consume")
	}
	return store.ConsumeResult{OK: true}, nil
}

// approvalUsable says whether the approval exists, is approved and has a use left at now.
func approvalUsable(ctx context.Context, tx *sql.Tx, id string, now int64) (bool, error) {
	var usable bool
	err := tx.QueryRowContext(ctx, `SELECT status = 'approved' AND uses_left > 0
		AND (grant_expires_at IS NULL OR grant_expires_at > ?) FROM approvals WHERE id = ?`, now, id).Scan(&usable)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, mapErr(err, "consume approval "+id)
	}
	return usable, nil
}

// RateRemaining returns how many calls the most constrained limit still admits at now.
func (s *Store) RateRemaining(ctx context.Context, limits []store.RateLimit, now time.Time) (int, error) {
	if err := checkLimits(limits); err != nil {
		return 0, err
	}
	at := micros(now)
	logs, err := readLogs(ctx, s.r, limits, at)
	if err != nil {
		return 0, err
	}
	left := math.MaxInt
	for _, l := range limits {
		left = min(left, max(0, l.Max-len(inWindow(logs[l.Key], l, at))))
	}
	return left, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readLogs returns, per key, the admission times still inside the widest window charged
// under that key.
func readLogs(ctx context.Context, q querier, limits []store.RateLimit, now int64) (map[string][]int64, error) {
	widest := map[string]time.Duration{}
	for _, l := range limits {
		widest[l.Key] = max(widest[l.Key], l.Window)
	}
	logs := make(map[string][]int64, len(widest))
	for key, window := range widest {
		var raw []byte
		err := q.QueryRowContext(ctx, `SELECT stamps FROM rate_logs WHERE key = ?`, key).Scan(&raw)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, mapErr(err, "rate "+key)
		}
		log, err := decodeStamps(raw)
		if err != nil {
			return nil, fmt.Errorf("sqlite: rate %s: %w", key, err)
		}
		logs[key] = log[sinceIndex(log, now-window.Microseconds()):]
	}
	return logs, nil
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

func encodeStamps(log []int64) []byte {
	b := make([]byte, 0, 8*len(log))
	for _, t := range log {
		b = binary.LittleEndian.AppendUint64(b, uint64(t))
	}
	return b
}

func decodeStamps(b []byte) ([]int64, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("rate log of %d bytes is not a list of int64", len(b))
	}
	log := make([]int64, len(b)/8)
	for i := range log {
		log[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return log, nil
}
