package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const testSecret = "0123456789abcdef-test-secret"

// hangGuard bounds waits that should finish at once; it only keeps a broken build from hanging.
const hangGuard = 10 * time.Second

// received is one request as the test receiver saw it.
type received struct {
	header http.Header
	body   []byte
	err    error // from Verify
}

// receiver starts a loopback server that verifies each request, records it and answers with
// respond(r, n) for the n-th request (1-based). The request's context also ends when the test
// does, so a handler that waits on it cannot keep the server from closing.
func receiver(t *testing.T, respond func(r *http.Request, n int) int) (*httptest.Server, func() []received) {
	t.Helper()
	var mu sync.Mutex
	var got []received
	quit := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go func() {
			select {
			case <-quit:
				cancel()
			case <-ctx.Done():
			}
		}()
		r = r.WithContext(ctx)
		body, _ := io.ReadAll(r.Body)
		err := Verify(testSecret, r.Header.Get(HeaderSignature), body, time.Now(), time.Minute)
		mu.Lock()
		got = append(got, received{header: r.Header.Clone(), body: body, err: err})
		n := len(got)
		mu.Unlock()
		w.WriteHeader(respond(r, n))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(quit) }) // cleanups run last-first: this one before srv.Close
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

// newNotifier starts a Notifier for url with short test timings; overrides adjusts cfg.
func newNotifier(t *testing.T, url string, overrides func(*Config)) *Notifier {
	t.Helper()
	cfg := Config{
		URL:         url,
		Secret:      testSecret,
		Timeout:     time.Second,
		MaxAttempts: 3,
		Backoff:     time.Millisecond,
		Logger:      slog.New(slog.DiscardHandler),
	}
	if overrides != nil {
		overrides(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n
}

func closeNotifier(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func ok(*http.Request, int) int { return http.StatusOK }

func TestDeliversSignedEvent(t *testing.T) {
	t.Parallel()
	srv, got := receiver(t, ok)
	n := newNotifier(t, srv.URL, nil)

	payload := map[string]any{"approvalId": "apr_1", "agentId": "agt_1"}
	if !n.Notify("approval.requested", payload) {
		t.Fatal("Notify returned false")
	}
	closeNotifier(t, n)

	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.err != nil {
		t.Fatalf("Verify: %v", r.err)
	}
	for h, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "kavach-webhook/1"} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	var ev struct {
		ID        string            `json:"id"`
		Type      string            `json:"type"`
		CreatedAt string            `json:"createdAt"`
		Data      map[string]string `json:"data"`
	}
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if ev.ID == "" || ev.ID != r.header.Get(HeaderID) {
		t.Errorf("id = %q, %s = %q; want equal and non-empty", ev.ID, HeaderID, r.header.Get(HeaderID))
	}
	if ev.Type != "approval.requested" {
		t.Errorf("type = %q", ev.Type)
	}
	if at, err := time.Parse(time.RFC3339Nano, ev.CreatedAt); err != nil || time.Since(at) > hangGuard {
		t.Errorf("createdAt = %q (%v)", ev.CreatedAt, err)
	}
	if ev.Data["approvalId"] != "apr_1" || ev.Data["agentId"] != "agt_1" {
		t.Errorf("data = %v", ev.Data)
	}
	if s := n.Stats(); s != (Stats{Delivered: 1, Attempts: 1}) {
		t.Errorf("Stats = %+v", s)
	}
}

func TestRetriesWithSameID(t *testing.T) {
	t.Parallel()
	srv, got := receiver(t, func(_ *http.Request, n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	n := newNotifier(t, srv.URL, func(c *Config) { c.MaxAttempts = 5 })

	n.Notify("approval.requested", "x")
	closeNotifier(t, n)

	reqs := got()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(reqs))
	}
	id := reqs[0].header.Get(HeaderID)
	for i, r := range reqs {
		if r.err != nil {
			t.Errorf("attempt %d: Verify: %v", i+1, r.err)
		}
		if got := r.header.Get(HeaderID); got != id || got == "" {
			t.Errorf("attempt %d: %s = %q, want %q", i+1, HeaderID, got, id)
		}
	}
	if s := n.Stats(); s != (Stats{Delivered: 1, Attempts: 3}) {
		t.Errorf("Stats = %+v", s)
	}
}

// stuck answers only once the sender gives up or the test ends.
func stuck(r *http.Request, _ int) int {
	<-r.Context().Done()
	return http.StatusOK
}

func TestSlowReceiverIsDropped(t *testing.T) {
	t.Parallel()
	srv, _ := receiver(t, stuck)
	n := newNotifier(t, srv.URL, func(c *Config) { c.Timeout = 20 * time.Millisecond })

	n.Notify("approval.requested", nil)
	closeNotifier(t, n)

	if s := n.Stats(); s != (Stats{Failed: 1, Attempts: 3}) {
		t.Errorf("Stats = %+v", s)
	}
}

func TestNotifyNeverBlocks(t *testing.T) {
	t.Parallel()
	srv, _ := receiver(t, stuck)
	n := newNotifier(t, srv.URL, func(c *Config) {
		c.QueueSize = 1
		c.Timeout = hangGuard // the worker stays stuck on the first event
	})

	const tries = 10
	accepted := 0
	start := time.Now()
	for range tries {
		if n.Notify("approval.requested", nil) {
			accepted++
		}
	}
	if elapsed := time.Since(start); elapsed > hangGuard/2 {
		t.Errorf("%d Notify calls took %s", tries, elapsed)
	}
	// One event in flight at most, one in the queue: the rest must be refused.
	if accepted < 1 || accepted > 2 {
		t.Errorf("accepted %d of %d events with QueueSize 1", accepted, tries)
	}
	if got := n.Stats().Rejected; got != int64(tries-accepted) {
		t.Errorf("Rejected = %d, want %d", got, tries-accepted)
	}

	// Close cannot deliver to a stuck receiver: it gives up when its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want context.DeadlineExceeded", err)
	}
	if got := n.Stats().Failed; got != int64(accepted) {
		t.Errorf("Failed = %d, want %d (the abandoned events)", got, accepted)
	}
}

func TestCloseDrainsQueue(t *testing.T) {
	t.Parallel()
	srv, got := receiver(t, func(_ *http.Request, n int) int {
		if n%2 == 1 {
			return http.StatusServiceUnavailable // every event needs a retry
		}
		return http.StatusOK
	})
	n := newNotifier(t, srv.URL, nil)

	const events = 20
	for i := range events {
		if !n.Notify("approval.requested", i) {
			t.Fatalf("Notify %d returned false", i)
		}
	}
	closeNotifier(t, n)

	if s := n.Stats(); s != (Stats{Delivered: events, Attempts: 2 * events}) {
		t.Errorf("Stats = %+v", s)
	}
	ids := map[string]bool{}
	for _, r := range got() {
		ids[r.header.Get(HeaderID)] = true
	}
	if len(ids) != events {
		t.Errorf("receiver saw %d distinct ids, want %d", len(ids), events)
	}

	if n.Notify("approval.requested", "late") {
		t.Error("Notify after Close returned true")
	}
	if got := n.Stats().Rejected; got != 1 {
		t.Errorf("Rejected = %d, want 1", got)
	}
	closeNotifier(t, n) // a second Close is harmless
}

func TestNotifyRejectsUnencodablePayload(t *testing.T) {
	t.Parallel()
	srv, got := receiver(t, ok)
	n := newNotifier(t, srv.URL, nil)
	if n.Notify("approval.requested", func() {}) {
		t.Error("Notify accepted a func payload")
	}
	closeNotifier(t, n)
	if s := n.Stats(); s != (Stats{Rejected: 1}) || len(got()) != 0 {
		t.Errorf("Stats = %+v, requests = %d", s, len(got()))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no URL", Config{Secret: testSecret}, "URL"},
		{"relative URL", Config{URL: "/hooks", Secret: testSecret}, "URL"},
		{"ftp URL", Config{URL: "ftp://example.com/hooks", Secret: testSecret}, "URL"},
		{"no host", Config{URL: "https:///hooks", Secret: testSecret}, "URL"},
		{"no secret", Config{URL: "https://example.com"}, "Secret"},
		{"short secret", Config{URL: "https://example.com", Secret: "too-short"}, "Secret"},
		{"negative timeout", Config{URL: "https://example.com", Secret: testSecret, Timeout: -1}, "Timeout"},
		{"negative attempts", Config{URL: "https://example.com", Secret: testSecret, MaxAttempts: -1}, "MaxAttempts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(c.cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != c.field {
				t.Errorf("New = %v, want a ConfigError for %s", err, c.field)
			}
		})
	}
}
