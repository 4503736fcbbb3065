package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/internal/spantest"
)

// tracedRequests records the traceparent and credentials of every request before the
// bundle server answers it, and answers 500 instead while failing is set.
type tracedRequests struct {
	next    http.Handler
	failing atomic.Bool

	mu          sync.Mutex
	traceparent []string
	passwords   []string
}

func (h *tracedRequests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, password, _ := r.BasicAuth()
	h.mu.Lock()
	h.traceparent = append(h.traceparent, r.Header.Get("traceparent"))
	h.passwords = append(h.passwords, password)
	h.mu.Unlock()
	if h.failing.Load() {
		http.Error(w, "broken", http.StatusInternalServerError)
		return
	}
	h.next.ServeHTTP(w, r)
}

// last returns the traceparent and password of the latest request, and how many came.
func (h *tracedRequests) last() (traceparent, password string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n = len(h.traceparent); n > 0 {
		traceparent, password = h.traceparent[n-1], h.passwords[n-1]
	}
	return traceparent, password, n
}

// downloadSpan returns the one kavach.bundle.download span of url and the
// kavach.bundle.poll span it is a child of.
func downloadSpan(t *testing.T, exp *tracetest.InMemoryExporter, url string) (poll, download tracetest.SpanStub) {
	t.Helper()
	spans := exp.GetSpans()
	var downloads []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == "kavach.bundle.download" && spanAttr(s, "url.full").AsString() == url {
			downloads = append(downloads, s)
		}
	}
	if len(downloads) != 1 {
		t.Fatalf("want one kavach.bundle.download span of %s, got %d", url, len(downloads))
	}
	download = downloads[0]
	for _, s := range spans {
		if s.SpanContext.SpanID() == download.Parent.SpanID() && s.SpanContext.TraceID() == download.Parent.TraceID() {
			if s.Name != "kavach.bundle.poll" {
				t.Fatalf("the download span's parent is %q, want kavach.bundle.poll", s.Name)
			}
			return s, download
		}
	}
	t.Fatalf("the download span has no kavach.bundle.poll parent among the spans (parent %v)", download.Parent)
	return
}

func spanAttr(s tracetest.SpanStub, key string) attribute.Value {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value
		}
	}
	return attribute.Value{}
}

// TestBundlePollIsTraced: each poll of an HTTP bundle source is a root kavach.bundle.poll
// span with a client child kavach.bundle.download. The download span names the URL with its
// password hidden (the password is still sent), the status code, whether the server
// answered 304, and the revision read; the GET carries the download span's traceparent; a
// failing server marks the download span as failed.
func TestBundlePollIsTraced(t *testing.T) {
	exp := spantest.Record(t)
	e := allowAll(t)
	bundles := &bundleServer{bundles: map[string][]byte{"A": buildBundle(t, bundleSource(t, "A", nil), "A", nil)}, current: "A"}
	srv := &tracedRequests{next: bundles}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	host := strings.TrimPrefix(hs.URL, "http://")
	location := "http://user:s3cret@" + host + "/bundle.tar.gz"
	redacted := "http://user:xxxxx@" + host + "/bundle.tar.gz"

	// No background poll comes before the test's own.
	l := engine.NewBundleLoader(e, engine.BundleSource{Location: location, PollInterval: time.Hour,
		Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	l.Start(ctx)
	defer l.Stop(ctx)
	if !l.Loaded() || del(e).Revision != "A" {
		t.Fatalf("revision A is not active after the first poll: %+v, status %+v", del(e), e.Status())
	}

	// checkPoll checks the spans of the poll just made and returns its download span.
	checkPoll := func(step string, status int, notModified bool) tracetest.SpanStub {
		t.Helper()
		poll, download := downloadSpan(t, exp, redacted)
		if poll.Parent.IsValid() {
			t.Fatalf("%s: kavach.bundle.poll has a parent %v, want a new root", step, poll.Parent)
		}
		if download.SpanKind != trace.SpanKindClient || download.SpanContext.TraceID() != poll.SpanContext.TraceID() {
			t.Fatalf("%s: download span of kind %v in trace %v, want a client span in the poll's trace %v",
				step, download.SpanKind, download.SpanContext.TraceID(), poll.SpanContext.TraceID())
		}
		for _, s := range []tracetest.SpanStub{poll, download} {
			for _, a := range s.Attributes {
				if strings.Contains(a.Value.Emit(), "s3cret") {
					t.Fatalf("%s: %s attribute %s shows the password: %q", step, s.Name, a.Key, a.Value.Emit())
				}
			}
		}
		if got := spanAttr(download, "http.response.status_code").AsInt64(); got != int64(status) {
			t.Fatalf("%s: http.response.status_code = %d, want %d", step, got, status)
		}
		nm := spanAttr(download, "kavach.bundle.not_modified")
		if nm.Type() != attribute.BOOL || nm.AsBool() != notModified {
			t.Fatalf("%s: kavach.bundle.not_modified = %v, want %v", step, nm.Emit(), notModified)
		}

		traceparent, password, _ := srv.last()
		want := "00-" + download.SpanContext.TraceID().String() + "-" + download.SpanContext.SpanID().String() + "-01"
		if traceparent != want {
			t.Fatalf("%s: the server saw traceparent %q, want the download span's %q", step, traceparent, want)
		}
		if password != "s3cret" {
			t.Fatalf("%s: the server saw password %q: the URL's credentials must still be sent", step, password)
		}
		return download
	}

	first := checkPoll("first poll", http.StatusOK, false)
	if got := spanAttr(first, "kavach.policy.revision").AsString(); got != del(e).Revision {
		t.Fatalf("kavach.policy.revision = %q, want the active revision %q", got, del(e).Revision)
	}
	if first.Status.Code == codes.Error {
		t.Fatalf("a good download is marked failed: %+v", first.Status)
	}

	// The same revision again: 304.
	exp.Reset()
	l.Trigger(ctx)
	if l.NotModified() != 1 {
		t.Fatalf("the second poll was not answered 304: %d not modified", l.NotModified())
	}
	second := checkPoll("304 poll", http.StatusNotModified, true)
	if spanAttr(second, "kavach.policy.revision").Type() != attribute.INVALID || second.Status.Code == codes.Error {
		t.Fatalf("a 304 names no revision and is no failure: %v, status %+v", second.Attributes, second.Status)
	}

	// The server fails: the download span is marked failed, A stays active.
	exp.Reset()
	srv.failing.Store(true)
	l.Trigger(ctx)
	failed := checkPoll("failing server", http.StatusInternalServerError, false)
	if failed.Status.Code != codes.Error || !strings.Contains(failed.Status.Description, "500") {
		t.Fatalf("a 500 must mark the download span failed: status %+v", failed.Status)
	}
	if del(e).Revision != "A" {
		t.Fatalf("revision A must stay active while the server fails: %+v", del(e))
	}
	// The failure's text names the source without its password: in the span, and in the
	// status operators read.
	if strings.Contains(failed.Status.Description, "s3cret") || strings.Contains(fmt.Sprint(failed.Events), "s3cret") {
		t.Errorf("the failed download's span carries the source's password: %+v %+v", failed.Status, failed.Events)
	}
	if st := e.Status(); strings.Contains(fmt.Sprintf("%+v", st), "s3cret") {
		t.Errorf("the engine's status carries the source's password: %+v", st)
	}
}
