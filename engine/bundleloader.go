package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kavachos/kavach-go/lifecycle"
)

// BundleSource is where custom rules come from: a bundle file (.tar.gz), an unpacked bundle
// directory, or an http(s) URL polled for new revisions.
type BundleSource struct {
	Location string
	// Key, when set, is required to have signed every revision.
	Key *BundleKey
	// PollInterval is how often an HTTP source is asked for a new revision (default 30s).
	// A failing source is retried with exponential back-off up to 5 minutes.
	PollInterval time.Duration
	Client       *http.Client
	Logger       *slog.Logger
}

// BundleLoader keeps the engine on the source's newest good revision. It is a long-running
// component: Start, then Stop.
type BundleLoader struct {
	lifecycle.Reporter
	e    *Engine
	src  BundleSource
	stop chan struct{}
	done chan struct{}

	loaded atomic.Bool // a revision from this source is active

	mu       sync.Mutex
	etag     string // the HTTP ETag, or a file source's size and modification times
	notMod   int64
	failures int
}

// NewBundleLoader returns a loader for src feeding e.
func NewBundleLoader(e *Engine, src BundleSource) *BundleLoader {
	if src.PollInterval <= 0 {
		src.PollInterval = 30 * time.Second
	}
	if src.Client == nil {
		src.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if src.Logger == nil {
		src.Logger = slog.Default()
	}
	return &BundleLoader{e: e, src: src, stop: make(chan struct{}), done: make(chan struct{})}
}

func (l *BundleLoader) remote() bool {
	return strings.HasPrefix(l.src.Location, "http://") || strings.HasPrefix(l.src.Location, "https://")
}

// Name names the component in readiness reports and metrics.
func (l *BundleLoader) Name() string { return "policy.bundle" }

// Start loads the first revision, then polls the source in the background — an HTTP
// source with its ETag, a file or directory by its size and modification times — so that
// a first revision that could not be loaded is retried and a new one is picked up. Until a
// revision from the source is active the loader is NOT_READY, and the service denies
// every decision rather than decide without the operator's rules.
func (l *BundleLoader) Start(ctx context.Context) error {
	l.Set(lifecycle.NotReady, "loading "+l.src.Location)
	l.poll(ctx)
	go l.run()
	return nil
}

// Stop ends polling.
func (l *BundleLoader) Stop(ctx context.Context) error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Loaded reports whether a revision from the source is active.
func (l *BundleLoader) Loaded() bool { return l.loaded.Load() }

// NotModified counts polls answered 304.
func (l *BundleLoader) NotModified() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.notMod
}

func (l *BundleLoader) run() {
	defer close(l.done)
	for {
		l.mu.Lock()
		wait := l.src.PollInterval
		for i := 0; i < l.failures && wait < 5*time.Minute; i++ {
			wait *= 2
		}
		l.mu.Unlock()
		select {
		case <-l.stop:
			return
		case <-time.After(min(wait, 5*time.Minute)):
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.src.PollInterval+30*time.Second)
		l.poll(ctx)
		cancel()
	}
}

// poll fetches and activates one revision, if there is a new one.
func (l *BundleLoader) poll(ctx context.Context) {
	ps, err := l.fetch(ctx)
	if err != nil {
		l.e.recordRejection(err) // Activate records the refusals it makes itself
	} else if ps != nil {
		err = l.e.Activate(ctx, ps)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil && l.loaded.Load():
		l.failures++
		l.src.Logger.Error("policy bundle refused; the previous revision stays active", "source", l.src.Location, "error", err)
		l.Set(lifecycle.OK, "the last revision was refused; the previous one stays active: "+err.Error())
	case err != nil:
		l.failures++
		l.src.Logger.Error("policy bundle refused; no revision from this source is active", "source", l.src.Location, "error", err)
		l.Set(lifecycle.NotReady, "no revision from "+l.src.Location+" is active: "+err.Error())
	case ps != nil:
		l.failures = 0
		l.loaded.Store(true)
		l.src.Logger.Info("policy revision active", "revision", ps.Revision, "source", l.src.Location)
		l.Set(lifecycle.OK, "")
	default:
		l.failures = 0
	}
}

var errFetch = errors.New("bundle source")

// fileStamp sums up a file or directory tree's sizes and modification times: it changes
// when a file in it does.
func fileStamp(root string) (string, error) {
	var n, size int64
	var latest time.Time
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n++
		size += info.Size()
		if info.ModTime().After(latest) {
			latest = info.ModTime()
		}
		return nil
	})
	return fmt.Sprintf("%d:%d:%d", n, size, latest.UnixNano()), err
}

// fetch returns the source's revision, or nil if it has not changed (HTTP 304).
func (l *BundleLoader) fetch(ctx context.Context) (*PolicySet, error) {
	if !l.remote() {
		st, err := os.Stat(l.src.Location)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errFetch, err)
		}
		stamp, err := fileStamp(l.src.Location)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errFetch, err)
		}
		l.mu.Lock()
		unchanged := l.loaded.Load() && stamp == l.etag
		l.etag = stamp
		l.mu.Unlock()
		if unchanged {
			l.mu.Lock()
			l.notMod++
			l.mu.Unlock()
			return nil, nil
		}
		if st.IsDir() {
			return ReadBundleDir(l.src.Location, l.src.Key)
		}
		f, err := os.Open(l.src.Location)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errFetch, err)
		}
		defer f.Close()
		ps, err := ReadBundle(f, l.src.Key)
		if ps != nil {
			ps.Source = l.src.Location
		}
		return ps, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.src.Location, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetch, err)
	}
	l.mu.Lock()
	if l.etag != "" {
		req.Header.Set("If-None-Match", l.etag)
	}
	l.mu.Unlock()
	resp, err := l.src.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetch, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		l.mu.Lock()
		l.notMod++
		l.mu.Unlock()
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: %s answered %s", errFetch, l.src.Location, resp.Status)
	}
	ps, err := ReadBundle(resp.Body, l.src.Key)
	if err != nil {
		return nil, err
	}
	ps.Source = l.src.Location
	l.mu.Lock()
	l.etag = resp.Header.Get("ETag")
	l.mu.Unlock()
	return ps, nil
}
