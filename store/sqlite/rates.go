package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/internal/ratelog"
)

// Consume checks every limit and the approval, then charges them, in one write
// transaction: SQLite's single writer makes the check and the charge atomic.
func (s *Store) Consume(ctx context.Context, c store.Consumption) (store.ConsumeResult, error) {
	if err := ratelog.CheckLimits(c.Limits); err != nil {
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
	res := store.ConsumeResult{RetryAfter: ratelog.Wait(logs, c.Limits, now)}
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
			ON CONFLICT (key) DO UPDATE SET stamps = excluded.stamps`, key, encodeStamps(ratelog.WithStamp(log, now))); err != nil {
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
	if err := ratelog.CheckLimits(limits); err != nil {
		return 0, err
	}
	at := micros(now)
	logs, err := readLogs(ctx, s.r, limits, at)
	if err != nil {
		return 0, err
	}
	return ratelog.Remaining(logs, limits, at), nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readLogs returns, per key, the admission times still inside the widest window charged
// under that key.
func readLogs(ctx context.Context, q querier, limits []store.RateLimit, now int64) (map[string][]int64, error) {
	widest := ratelog.Widest(limits)
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
		logs[key] = log[ratelog.SinceIndex(log, now-window.Microseconds()):]
	}
	return logs, nil
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
