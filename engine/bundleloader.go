package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/internal/tracecontext"
	"github.com/kavachos/kavach-go/lifecycle"
	"github.com/kavachos/kavach-go/telemetry"
)

// BundleSource is where custom rules come from: a bundle file (.tar.gz), an unpacked bundle
// directory, or an http(s) URL polled for new revisions.
type BundleSource struct {
	Location string
	// Key, when set, is required to have signed every revision.
	Key *BundleKey
	// PollInterval is how often an HTTP source is asked for a new revision (default 30s).
	// A source that cannot be read is retried with exponential back-off up to 5 minutes; a
	// revision that was read and refused is remembered by its ETag (or file stamp), so the
	// next poll asks again at the usual interval and a fixed revision lands then.
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

	polling sync.Mutex // one poll at a time: the background one or Trigger's

	mu       sync.Mutex
	etag     string // of the last revision read, activated or refused: the HTTP ETag, or a file source's size and modification times
	notMod   int64
	failures int // polls in a row whose source failed
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
	l.Set(lifecycle.NotReady, "loading "+l.where())
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

// NextPoll is how long the loader waits before its next poll: the poll interval, doubled
// for each poll in a row whose source could not be read, up to 5 minutes (or the interval,
// if longer).
func (l *BundleLoader) NextPoll() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	limit := max(l.src.PollInterval, 5*time.Minute)
	wait := l.src.PollInterval
	for i := 0; i < l.failures && wait < limit; i++ {
		wait *= 2
	}
	return min(wait, limit)
}

// Trigger polls the source now, as a background poll would.
func (l *BundleLoader) Trigger(ctx context.Context) { l.poll(ctx) }

func (l *BundleLoader) run() {
	defer close(l.done)
	for {
		select {
		case <-l.stop:
			return
		case <-time.After(l.NextPoll()):
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.src.PollInterval+30*time.Second)
		l.poll(ctx)
		cancel()
	}
}

// poll reads the source and activates its revision, if there is one it has not read yet.
// A revision refused — by its signature, its roots, or activation's checks — is
// remembered like an active one, so it is not read and refused again until it changes;
// only a source that cannot be read backs off.
func (l *BundleLoader) poll(ctx context.Context) {
	ctx, span := telemetry.Start(ctx, "kavach.bundle.poll", trace.WithNewRoot())
	defer span.End()
	l.polling.Lock()
	defer l.polling.Unlock()
	l.mu.Lock()
	seen := l.etag
	l.mu.Unlock()
	ps, tag, err := l.read(ctx, seen)
	if err != nil {
		l.e.recordRejection(err) // Activate records the refusals it makes itself
	} else if ps != nil {
		err = l.e.Activate(ctx, ps)
		if err != nil {
			err = fmt.Errorf("%s: %w", bundleLabel(l.where(), ""), err)
		}
	}
	sourceFailed := errors.Is(err, errFetch)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !sourceFailed {
		l.etag, l.failures = tag, 0
	} else {
		l.failures++
	}
	switch {
	case ps == nil && err == nil:
		l.notMod++
	case err != nil && l.loaded.Load():
		l.src.Logger.Error("policy bundle refused; the previous revision stays active", "source", l.where(), "error", err)
		l.Set(lifecycle.OK, "the last revision was refused; the previous one stays active: "+err.Error())
	case err != nil:
		l.src.Logger.Error("policy bundle refused; no revision from this source is active", "source", l.where(), "error", err)
		l.Set(lifecycle.NotReady, "no revision from "+l.where()+" is active: "+err.Error())
	default:
		l.loaded.Store(true)
		l.src.Logger.Info("policy revision active", "revision", ps.Revision, "source", l.where())
		l.Set(lifecycle.OK, "")
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

// LoadBundle reads the revision a bundle source holds now — a file, a directory or an
// http(s) URL, verified with src.Key — without activating it.
func LoadBundle(ctx context.Context, src BundleSource) (*PolicySet, error) {
	ps, _, err := NewBundleLoader(nil, src).read(ctx, "")
	return ps, err
}

// read returns the source's revision and its ETag (or file stamp), or a nil revision if
// the tag is still seen. A source that cannot be read fails with errFetch.
func (l *BundleLoader) read(ctx context.Context, seen string) (*PolicySet, string, error) {
	if !l.remote() {
		return l.readFile(seen)
	}
	ctx, span := telemetry.Start(ctx, "kavach.bundle.download", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	ps, tag, err := l.download(ctx, seen)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("url.full", l.where()), attribute.Bool("kavach.bundle.not_modified", err == nil && ps == nil))
		if ps != nil {
			span.SetAttributes(attribute.String("kavach.policy.revision", ps.Revision))
		}
		telemetry.Fail(span, err)
	}
	return ps, tag, err
}

// where names the source in errors, logs, spans and status: a URL with its password
// hidden, or the file's path.
func (l *BundleLoader) where() string {
	if l.remote() {
		return redactURL(l.src.Location)
	}
	return l.src.Location
}

// redactURL hides a URL's password and its query, which for a presigned object URL is a
// credential too, for errors, logs, status and spans.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	u.Fragment = ""
	return u.Redacted()
}

// download GETs the bundle unless its ETag is still seen.
func (l *BundleLoader) download(ctx context.Context, seen string) (*PolicySet, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.src.Location, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w %s: %v", errFetch, l.where(), err)
	}
	if seen != "" {
		req.Header.Set("If-None-Match", seen)
	}
	tracecontext.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := l.src.Client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w %s: %v", errFetch, l.where(), err)
	}
	defer resp.Body.Close()
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil, seen, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", fmt.Errorf("%w %s answered %s", errFetch, l.where(), resp.Status)
	}
	tag := resp.Header.Get("ETag")
	ps, err := readBundleFrom(resp.Body, l.where(), l.src.Key)
	if err != nil {
		return nil, tag, err
	}
	ps.Source = l.where()
	return ps, tag, nil
}

// readFile reads a bundle file or directory unless its stamp is still seen.
func (l *BundleLoader) readFile(seen string) (*PolicySet, string, error) {
	st, err := os.Stat(l.src.Location)
	if err != nil {
		return nil, "", fmt.Errorf("%w %s: %v", errFetch, l.src.Location, err)
	}
	stamp, err := fileStamp(l.src.Location)
	if err != nil {
		return nil, "", fmt.Errorf("%w %s: %v", errFetch, l.src.Location, err)
	}
	if stamp == seen {
		return nil, seen, nil
	}
	var ps *PolicySet
	if st.IsDir() {
		ps, err = ReadBundleDir(l.src.Location, l.src.Key)
	} else {
		f, oerr := os.Open(l.src.Location)
		if oerr != nil {
			return nil, "", fmt.Errorf("%w %s: %v", errFetch, l.src.Location, oerr)
		}
		defer f.Close()
		ps, err = readBundleFrom(f, l.src.Location, l.src.Key)
	}
	if err != nil {
		return nil, stamp, err
	}
	ps.Source = l.src.Location
	return ps, stamp, nil
}
