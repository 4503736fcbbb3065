package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/engine"
)

// bundleServer serves one of several bundles by name, each with its name as ETag, and
// answers 304 to a request that already has it; "down" answers 503.
type bundleServer struct {
	mu       sync.Mutex
	bundles  map[string][]byte
	current  string
	requests []string // the If-None-Match of each request
}

func (s *bundleServer) serve(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = name
}

func (s *bundleServer) hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Header.Get("If-None-Match"))
	if s.current == "down" {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	etag := `"` + s.current + `"`
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Write(s.bundles[s.current])
}

// TestRefusedRevisionIsRemembered: a refused revision's ETag is remembered, so the source
// is asked again at the usual interval (no back-off), the refused revision is not read and
// refused again while it is served, and the fixed one is active after the next poll. Only a
// source that cannot be read backs off. The refusal names the revision and its failing
// check, in the status and in the log.
func TestRefusedRevisionIsRemembered(t *testing.T) {
	failing := bundleSource(t, "bad", map[string]string{"kavach/custom/more_test.rego": `package kavach.custom_test
import rego.v1
test_reads_are_denied if count(data.kavach.custom.deny) == 1 with input as {"action": "read"}
`})
	srv := &bundleServer{bundles: map[string][]byte{
		"bad":  buildBundle(t, failing, "bad", nil),
		"good": buildBundle(t, bundleSource(t, "good", nil), "good", nil),
	}, current: "bad"}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	e := allowAll(t)
	var logs bytes.Buffer
	const interval = time.Minute // no poll comes before the test's own
	l := engine.NewBundleLoader(e, engine.BundleSource{Location: hs.URL + "/b.tar.gz", PollInterval: interval,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	ctx := context.Background()
	l.Start(ctx)
	defer l.Stop(ctx)

	st := e.Status()
	for _, want := range []string{"revision bad", "its tests failed", "data.kavach.custom_test.test_reads_are_denied"} {
		if !strings.Contains(st.LastError, want) || !strings.Contains(logs.String(), want) {
			t.Fatalf("the refusal must say %q:\nstatus: %s\nlog: %s", want, st.LastError, logs.String())
		}
	}
	if strings.Contains(st.LastError, "bundle bundle") || l.Loaded() {
		t.Fatalf("status after the refusal: %+v", st)
	}
	if got := l.NextPoll(); got != interval {
		t.Fatalf("a refused revision must not back off the source: next poll in %v, want %v", got, interval)
	}

	// Still served: asked with its ETag, answered 304, not refused again.
	l.Trigger(ctx)
	if l.NotModified() != 1 || e.Status().Rejections != st.Rejections || l.NextPoll() != interval {
		t.Fatalf("the refused revision was read again: 304s %d, rejections %d → %d, next poll %v",
			l.NotModified(), st.Rejections, e.Status().Rejections, l.NextPoll())
	}

	// Fixed: active after the next poll.
	srv.serve("good")
	l.Trigger(ctx)
	if r := del(e); r.Revision != "good" || !l.Loaded() {
		t.Fatalf("the fixed revision is not active after the next poll: %+v", r)
	}
	srv.mu.Lock()
	sent := append([]string(nil), srv.requests...)
	srv.mu.Unlock()
	if len(sent) != 3 || sent[1] != `"bad"` || sent[2] != `"bad"` {
		t.Fatalf("If-None-Match of the polls: %q", sent)
	}

	// A source that cannot be read does back off.
	srv.serve("down")
	l.Trigger(ctx)
	if got := l.NextPoll(); got != 2*interval {
		t.Fatalf("a failing source must back off: next poll in %v", got)
	}
	if !strings.Contains(e.Status().LastError, "503") || del(e).Revision != "good" {
		t.Fatalf("with the source down: %+v", e.Status())
	}
}

// TestRefusalMessagesNameRevisionAndCheck: each kind of refusal names the bundle's source,
// its revision and the check that failed.
func TestRefusalMessagesNameRevisionAndCheck(t *testing.T) {
	e := allowAll(t)
	cases := map[string]struct {
		extra map[string]string
		want  []string
	}{
		"compile error": {map[string]string{"kavach/custom/broken.rego": "package kavach.custom\nimport rego.v1\ndeny contains x if { x := undefined_fn(1) }\n"},
			[]string{"revision r1: it does not compile with the embedded policies", "undefined_fn", "bundle/kavach/custom/broken.rego"}},
		"recursion into kavach.authz": {map[string]string{"kavach/custom/loop.rego": "package kavach.custom\nimport rego.v1\ndeny contains {\"code\": \"POLICY_DENIED\", \"reason\": \"x\"} if data.kavach.authz.decision.code == \"ALLOWED\"\n"},
			[]string{"revision r1", "recursion"}},
	}
	for name, tc := range cases {
		ps, err := engine.ReadBundle(bytes.NewReader(buildBundle(t, bundleSource(t, "r1", tc.extra), "r1", nil)), nil)
		if err == nil {
			err = e.Activate(context.Background(), ps)
		}
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: want a refusal saying %q, got %v", name, want, err)
			}
		}
	}
}
