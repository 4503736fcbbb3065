package kavach

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/lifecycle"
	"github.com/kavachos/kavach-go/store"
)

// DefaultStaleness is how long an instance that has lost the database's change feed keeps
// deciding from what it compiled before failing closed.
const DefaultStaleness = 30 * time.Second

// feed keeps this instance's compiled state in step with other instances sharing the
// database: it applies every announced change, resyncs fully after a reconnect, and says
// when the state is too stale to decide on.
type feed struct {
	k         *Kavach
	cf        store.ChangeFeed
	staleness time.Duration
	cancel    context.CancelFunc
	done      chan struct{}

	mu sync.Mutex
	// ok mirrors synced for fresh, which every decision calls: it reads it without the
	// lock while the feed is synced, as it nearly always is.
	ok      atomic.Bool
	synced  bool      // listening and fully loaded
	lostAt  time.Time // when the feed was lost (zero while synced)
	lastErr error
	resyncs int
	changes int64
	first   chan struct{} // closed at the first sync
	failed  chan struct{} // closed when the feed is first lost
	failOne sync.Once
}

// startFeed watches the store's change feed, if it has one (Postgres across instances,
// SQLite across processes on one file). It reports whether the feed's first sync loaded
// every agent; if not, the caller loads them itself.
func (k *Kavach) startFeed(ctx context.Context, staleness time.Duration) (bool, error) {
	cf, ok := k.store.(store.ChangeFeed)
	if !ok {
		return false, nil
	}
	if staleness <= 0 {
		staleness = DefaultStaleness
	}
	f := &feed{k: k, cf: cf, staleness: staleness, done: make(chan struct{}), lostAt: time.Now(),
		first: make(chan struct{}), failed: make(chan struct{})}
	k.feed = f
	if err := k.parts.Start(ctx, f); err != nil {
		return false, err
	}
	select {
	case <-f.first:
		return true, nil
	default:
		return false, nil
	}
}

// Name names the component in readiness reports and metrics.
func (f *feed) Name() string { return "store.feed" }

// Start listens to the feed. It returns once the instance listens and has loaded every
// agent (the feed's first sync), so that it starts ready, or once the feed first fails: a
// database that cannot be listened to leaves the instance not ready until it can.
func (f *feed) Start(ctx context.Context) error {
	wait := ctx
	watch, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.k.resetSecrets(false) // until the first sync
	go func() {
		defer close(f.done)
		f.cf.WatchChanges(watch, store.ChangeHandler{Synced: f.resync, Changed: f.apply, Lost: f.lost})
	}()
	select {
	case <-f.first:
	case <-f.failed:
	case <-wait.Done():
	}
	return nil
}

// Stop stops listening.
func (f *feed) Stop(ctx context.Context) error {
	f.cancel()
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status is OK while the instance listens and is fully loaded, ERROR once the feed is lost
// (decisions fail closed after the staleness bound).
func (f *feed) Status() lifecycle.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.synced:
		return lifecycle.Status{State: lifecycle.OK}
	case f.resyncs == 0 && f.lastErr == nil:
		return lifecycle.Status{State: lifecycle.NotReady, Message: "connecting to the database's change feed", Since: f.lostAt}
	}
	return lifecycle.Status{State: lifecycle.Error, Since: f.lostAt,
		Message: fmt.Sprintf("not listening to the database's change feed: %v", f.lastErr)}
}

// resync reloads everything: changes made while this instance was not listening were
// never announced to it. Cached tokens and API keys are dropped for the same reason.
func (f *feed) resync(ctx context.Context) error {
	f.k.resetSecrets(true)
	if err := f.k.engine.LoadAll(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	f.synced, f.lostAt, f.lastErr = true, time.Time{}, nil
	f.ok.Store(true)
	f.resyncs++
	if f.resyncs == 1 {
		close(f.first)
	}
	f.mu.Unlock()
	return nil
}

// apply brings one changed object up to date. A change that cannot be applied is returned:
// the store then reconnects and resyncs everything.
func (f *feed) apply(ctx context.Context, c store.Change) error {
	var err error
	switch c.Kind {
	case "agent":
		f.k.forgetTokens(c.ID)
		err = f.k.engine.Put(ctx, &agent.Agent{ID: c.ID})
	case "delegation":
		err = f.k.engine.PutDelegation(ctx, &agent.Delegation{ID: c.ID})
	case "api_key":
		f.k.keys.forget(c.ID)
	}
	f.mu.Lock()
	f.changes++
	f.mu.Unlock()
	if err != nil && !store.IsNotFound(err) && ctx.Err() == nil {
		f.k.log.Error("change not applied; resyncing", "kind", c.Kind, "id", c.ID, "error", err)
		return err
	}
	return nil
}

func (f *feed) lost(err error) {
	f.k.resetSecrets(false) // changes made elsewhere no longer reach the caches
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.synced {
		f.lostAt = time.Now()
		f.k.log.Warn("lost the database's change feed; deciding from compiled state", "staleness", f.staleness.String(), "error", err)
	}
	f.synced, f.lastErr = false, err
	f.ok.Store(false)
	f.failOne.Do(func() { close(f.failed) })
}

// errStale fails decisions closed once the feed has been lost for longer than the
// staleness bound (or was never established).
var errStale = errors.New("this instance is out of sync with the database")

// fresh returns nil while decisions may be made from the compiled state.
func (f *feed) fresh() error {
	if f == nil || f.ok.Load() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.synced || time.Since(f.lostAt) <= f.staleness {
		return nil
	}
	return fmt.Errorf("%w since %s: %v", errStale, f.lostAt.UTC().Format(time.RFC3339), f.lastErr)
}

// FeedStatus reports the change feed: whether it is synced, since when it was lost, and
// how many resyncs and changes it has handled. Stores without a feed report synced.
func (k *Kavach) FeedStatus() (synced bool, lostAt time.Time, resyncs int, changes int64) {
	if k.feed == nil {
		return true, time.Time{}, 0, 0
	}
	k.feed.mu.Lock()
	defer k.feed.mu.Unlock()
	return k.feed.synced, k.feed.lostAt, k.feed.resyncs, k.feed.changes
}
