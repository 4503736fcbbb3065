package store

import (
	"context"
	"time"
)

// Watch runs a backend's watch — one connection's life: listen, call Synced, announce
// changes — until ctx ends. Each loss is reported to h.Lost and followed by a reconnect,
// with a back-off that doubles up to 5s while connections fail and starts over once one
// has synced, so that a lost connection that worked is replaced at once.
func Watch(ctx context.Context, h ChangeHandler, watch func(context.Context, ChangeHandler) error) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		synced := false
		err := watch(ctx, h.noteSynced(&synced))
		if ctx.Err() != nil {
			return nil
		}
		if h.Lost != nil {
			h.Lost(err)
		}
		if synced {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

// noteSynced returns h with *synced set once its Synced succeeds.
func (h ChangeHandler) noteSynced(synced *bool) ChangeHandler {
	inner := h.Synced
	h.Synced = func(ctx context.Context) error {
		var err error
		if inner != nil {
			err = inner(ctx)
		}
		*synced = err == nil
		return err
	}
	return h
}
