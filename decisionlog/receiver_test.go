package decisionlog_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// receiver is a decision-log service as OPA's upload protocol describes it: POST
// <resource>, Content-Type application/json, Content-Encoding gzip, a gzip-compressed JSON
// array of events. It keeps what it accepted, raw and decoded, and answers the statuses
// it is told to.
type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu          sync.Mutex
	requests    int
	bodies      [][]byte // every accepted body as received (compressed)
	raw         [][]byte // every accepted array, decompressed
	events      []map[string]any
	headers     []http.Header
	problems    []string
	status      func(request int) int // nil: 200
	wantPath    string
	hang        chan struct{} // while open, requests wait for it
	hangCount   int
	releaseOnce sync.Once
}

func newReceiver(t testing.TB, path string, status func(request int) int) *receiver {
	r := &receiver{t: t, status: status, wantPath: path}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// hanging returns a receiver that reads each request and never answers, until the test ends.
func hanging(t testing.TB) *receiver {
	r := &receiver{t: t, hang: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() { r.release(); r.srv.Close() })
	return r
}

// closedURL is an http URL on a loopback port that nothing listens on.
func closedURL(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func (r *receiver) URL() string { return r.srv.URL }

// release lets a hanging receiver's requests end, once.
func (r *receiver) release() { r.releaseOnce.Do(func() { close(r.hang) }) }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if r.hang != nil {
		r.mu.Lock()
		r.hangCount++
		r.mu.Unlock()
		<-r.hang
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	problem := func(f string, a ...any) { r.problems = append(r.problems, fmt.Sprintf(f, a...)) }
	switch {
	case err != nil:
		problem("reading the body: %v", err)
	case req.Method != http.MethodPost:
		problem("method %s, want POST", req.Method)
	case r.wantPath != "" && req.URL.Path != r.wantPath:
		problem("path %s, want %s", req.URL.Path, r.wantPath)
	case req.Header.Get("Content-Type") != "application/json":
		problem("Content-Type %q", req.Header.Get("Content-Type"))
	case req.Header.Get("Content-Encoding") != "gzip":
		problem("Content-Encoding %q", req.Header.Get("Content-Encoding"))
	}
	if r.status != nil {
		if code := r.status(r.requests); code != 0 && code != http.StatusOK {
			w.WriteHeader(code)
			return
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		problem("not gzip: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		problem("gzip: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var events []map[string]any
	if err := json.Unmarshal(plain, &events); err != nil {
		problem("not a JSON array of objects: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.bodies = append(r.bodies, body)
	r.raw = append(r.raw, plain)
	r.events = append(r.events, events...)
	r.headers = append(r.headers, req.Header.Clone())
}

// got returns the events accepted so far, after failing on any malformed request.
func (r *receiver) got() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		r.t.Errorf("receiver: %s", p)
	}
	r.problems = nil
	return append([]map[string]any(nil), r.events...)
}

func (r *receiver) requestCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests + r.hangCount
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// opaEvent is every field of OPA's decision-log event (EventV1 in OPA v1.22's
// v1/plugins/logs), by its JSON name and type; decoding into it with unknown fields
// disallowed is what a receiver built for OPA's events can read.
type opaEvent struct {
	Labels              map[string]string    `json:"labels"`
	DecisionID          string               `json:"decision_id"`
	BatchDecisionID     string               `json:"batch_decision_id"`
	TraceID             string               `json:"trace_id"`
	SpanID              string               `json:"span_id"`
	Revision            string               `json:"revision"`
	Bundles             map[string]opaBundle `json:"bundles"`
	Path                string               `json:"path"`
	Query               string               `json:"query"`
	Input               *any                 `json:"input"`
	Result              *any                 `json:"result"`
	IntermediateResults map[string]any       `json:"intermediate_results"`
	MappedResult        *any                 `json:"mapped_result"`
	NDBuiltinCache      *any                 `json:"nd_builtin_cache"`
	Erased              []string             `json:"erased"`
	Masked              []string             `json:"masked"`
	Error               any                  `json:"error"`
	RequestedBy         string               `json:"requested_by"`
	Timestamp           time.Time            `json:"timestamp"`
	Metrics             map[string]any       `json:"metrics"`
	RequestID           uint64               `json:"req_id"`
	RuleLabels          []map[string]any     `json:"rule_labels"`
	RequestContext      *struct {
		HTTPRequest *struct {
			Headers map[string][]string `json:"headers"`
		} `json:"http"`
	} `json:"request_context"`
	Custom map[string]any `json:"custom"`
}

type opaBundle struct {
	Revision string `json:"revision"`
}
