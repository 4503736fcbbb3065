package decisionlog_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/decisionlog"
	"github.com/kavachos/kavach-go/lifecycle"
)

// startSink starts a sink and stops it when the test ends.
func startSink(t *testing.T, cfg decisionlog.Config) *decisionlog.Sink {
	t.Helper()
	s, err := decisionlog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s
}

// asOPA decodes accepted arrays as OPA's event type, refusing any field OPA does not know:
// what a receiver built for OPA reads.
func asOPA(t *testing.T, r *receiver) []opaEvent {
	t.Helper()
	r.got() // reports malformed requests
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []opaEvent
	for _, raw := range r.raw {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var evs []opaEvent
		if err := dec.Decode(&evs); err != nil {
			t.Fatalf("not OPA's decision-log event format: %v\n%s", err, raw)
		}
		out = append(out, evs...)
	}
	return out
}

var (
	hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// checkOPAFields checks an event against the fields OPA documents for every event.
func checkOPAFields(t *testing.T, ev map[string]any) {
	t.Helper()
	if id, _ := ev["decision_id"].(string); id == "" {
		t.Errorf("decision_id: %v", ev["decision_id"])
	}
	if p, _ := ev["path"].(string); p != decisionlog.Path {
		t.Errorf("path %v, want %s", ev["path"], decisionlog.Path)
	}
	labels, _ := ev["labels"].(map[string]any)
	if labels["id"] == "" || labels["id"] == nil || labels["version"] == nil || labels["app"] != "kavach" {
		t.Errorf("labels: %v", ev["labels"])
	}
	ts, _ := ev["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("timestamp %q: %v", ts, err)
	}
	if _, ok := ev["input"].(map[string]any); !ok {
		t.Errorf("input: %v", ev["input"])
	}
	if _, ok := ev["result"].(map[string]any); !ok {
		t.Errorf("result: %v", ev["result"])
	}
	if tid, ok := ev["trace_id"]; ok && !hex32.MatchString(fmt.Sprint(tid)) {
		t.Errorf("trace_id %v", tid)
	}
	if sid, ok := ev["span_id"]; ok && !hex16.MatchString(fmt.Sprint(sid)) {
		t.Errorf("span_id %v", sid)
	}
	if b, ok := ev["bundles"]; ok {
		rev, _ := b.(map[string]any)[decisionlog.Bundle].(map[string]any)
		if s, _ := rev["revision"].(string); s == "" {
			t.Errorf("bundles: %v", b)
		}
	}
}

func spanContext(t *testing.T) (context.Context, trace.SpanContext) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	return trace.ContextWithSpanContext(context.Background(), sc), sc
}

// TestSinkSendsOPAEvents: events reach the service URL + resource as gzip JSON arrays with
// the bearer token and headers, each as OPA's EventV1 decodes it, with masked arguments
// removed (and named in erased), the revision under bundles, the trace of ctx, and labels.
func TestSinkSendsOPAEvents(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "/prefix/v1/logs", nil)
	s := startSink(t, decisionlog.Config{
		URL: r.URL() + "/prefix/", Resource: "v1/logs", Token: "dl-token", Headers: map[string]string{"X-Org": "acme"},
		Labels: map[string]string{"region": "eu", "app": "kavach"}, Mask: []string{"password", "a/b~c"},
		FlushInterval: 20 * time.Millisecond, InstanceID: "instance-1", Version: "v9.9.9",
	})
	if got, want := s.Endpoint(), r.URL()+"/prefix/v1/logs"; got != want {
		t.Fatalf("endpoint %s, want %s", got, want)
	}
	at := time.Date(2026, 12, 7, 10, 11, 12, 123456000, time.UTC)
	ctx, sc := spanContext(t)
	s.Offer(ctx, decisionlog.Decision{
		ID: "0193e5f0-0000-7000-8000-000000000001", Time: at, Duration: 1500 * time.Microsecond, Caller: "app:default",
		TenantID: "default", AgentID: "agt_1", OwnerID: "user_1", Action: "push", Resource: "mcp:github:repos",
		Arguments: map[string]any{"branch": "dev", "password": "hunter2", "a/b~c": "also secret"},
		IP:        "203.0.113.9", UserAgent: "test/1", Allowed: true, Code: "ALLOWED", Reason: "allowed by perm_1",
		Grant: "perm_1", Via: []string{"dlg_1"}, Revision: "sha256-abc",
	})
	s.Offer(context.Background(), decisionlog.Decision{
		ID: "0193e5f0-0000-7000-8000-000000000002", Time: at.Add(time.Second), TenantID: "default", AgentID: "agt_1",
		Action: "push", Resource: "mcp:github:repos", Code: "RATE_LIMITED", Reason: "rate limited",
		RetryAfter: 30 * time.Second, DryRun: true, Revision: "sha256-abc",
	})
	waitFor(t, "two events", func() bool { return len(r.got()) == 2 })

	opa := asOPA(t, r)
	raw := r.got()
	for _, ev := range raw {
		checkOPAFields(t, ev)
	}
	for _, body := range r.raw {
		if bytes.Contains(body, []byte("hunter2")) || bytes.Contains(body, []byte("also secret")) || bytes.Contains(body, []byte("dl-token")) {
			t.Fatalf("a masked argument or the token left in an event: %s", body)
		}
	}
	r.mu.Lock()
	h := r.headers[0]
	r.mu.Unlock()
	if h.Get("Authorization") != "Bearer dl-token" || h.Get("X-Org") != "acme" {
		t.Errorf("headers: %v", h)
	}

	first := opa[0]
	if first.DecisionID != "0193e5f0-0000-7000-8000-000000000001" || first.Path != decisionlog.Path ||
		!first.Timestamp.Equal(at) || first.TraceID != sc.TraceID().String() || first.SpanID != sc.SpanID().String() ||
		first.Bundles[decisionlog.Bundle].Revision != "sha256-abc" || first.RequestedBy != "app:default" {
		t.Errorf("first event: %+v", first)
	}
	wantLabels := map[string]string{"id": "instance-1", "version": "v9.9.9", "app": "kavach", "region": "eu"}
	if fmt.Sprint(first.Labels) != fmt.Sprint(wantLabels) {
		t.Errorf("labels %v, want %v", first.Labels, wantLabels)
	}
	if !slices.Equal(first.Erased, []string{"/input/arguments/a~1b~0c", "/input/arguments/password"}) {
		t.Errorf("erased: %v", first.Erased)
	}
	in := raw[0]["input"].(map[string]any)
	wantIn := map[string]any{"agentId": "agt_1", "tenantId": "default", "ownerId": "user_1", "action": "push",
		"resource": "mcp:github:repos", "arguments": map[string]any{"branch": "dev"}, "ip": "203.0.113.9",
		"userAgent": "test/1", "dryRun": false}
	if fmt.Sprint(in) != fmt.Sprint(wantIn) {
		t.Errorf("input %v\nwant  %v", in, wantIn)
	}
	res := raw[0]["result"].(map[string]any)
	wantRes := map[string]any{"allowed": true, "code": "ALLOWED", "reason": "allowed by perm_1", "grant": "perm_1", "via": []any{"dlg_1"}}
	if fmt.Sprint(res) != fmt.Sprint(wantRes) {
		t.Errorf("result %v\nwant   %v", res, wantRes)
	}
	if first.Metrics["timer_kavach_decision_ns"] != float64(1500000) {
		t.Errorf("metrics: %v", first.Metrics)
	}

	second := raw[1]
	if _, ok := second["trace_id"]; ok {
		t.Errorf("no span context, yet a trace_id: %v", second)
	}
	if in := second["input"].(map[string]any); in["dryRun"] != true {
		t.Errorf("dry run: %v", in)
	}
	if res := second["result"].(map[string]any); res["retryAfter"] != "30s" || res["allowed"] != false || res["code"] != "RATE_LIMITED" {
		t.Errorf("result: %v", res)
	}
	waitFor(t, "the upload to be counted", func() bool { return s.Stats().Sent == 2 })
	if st := s.Stats(); st.Sent != 2 || st.Dropped != 0 || st.Buffered != 0 || st.Uploads < 1 || st.FailedUploads != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestSinkRetriesUntilAccepted: the service refuses the first uploads with 500; the sink
// backs off and sends again until it is accepted, and nothing is lost or reordered.
func TestSinkRetriesUntilAccepted(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "/logs", func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	s := startSink(t, decisionlog.Config{URL: r.URL(), FlushInterval: 10 * time.Millisecond,
		MinRetryDelay: 5 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond})
	const n = 200
	for i := range n {
		s.Offer(context.Background(), decision(i))
	}
	waitFor(t, "every event", func() bool { return len(r.got()) >= n })
	got := r.got()
	if len(got) != n {
		t.Fatalf("%d events arrived, want %d", len(got), n)
	}
	for i, ev := range got {
		if ev["decision_id"] != decision(i).ID {
			t.Fatalf("event %d is %v, want %s: lost or reordered", i, ev["decision_id"], decision(i).ID)
		}
	}
	waitFor(t, "the last upload to be counted", func() bool { return s.Stats().Sent == n })
	st := s.Stats()
	if st.Sent != n || st.Dropped != 0 || st.FailedUploads != 3 || st.Buffered != 0 {
		t.Fatalf("stats: %+v", st)
	}
	waitFor(t, "the OK state after recovering", func() bool { return s.Status().State == lifecycle.OK })
}

func decision(i int) decisionlog.Decision {
	return decisionlog.Decision{
		ID: fmt.Sprintf("0193e5f0-0000-7000-8000-%012d", i), Time: time.Now(), TenantID: "default",
		AgentID: "agt_1", Action: "read", Resource: "mcp:github:repos", Arguments: map[string]any{"n": i},
		Allowed: true, Code: "ALLOWED", Reason: "allowed", Grant: "perm_1", Revision: "embedded-1",
	}
}

// TestSinkKeepsWithinTheBuffer: with the service down (nothing listening, refusing, or never
// answering) Offer neither blocks nor grows the buffer past its bound; what does not fit is
// dropped and counted, and every event offered is accounted for.
func TestSinkKeepsWithinTheBuffer(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(t *testing.T) string{
		"nothing listening": func(t *testing.T) string { return closedURL(t) },
		"503":               func(t *testing.T) string { return newReceiver(t, "", func(int) int { return 503 }).URL() },
		"never answers":     func(t *testing.T) string { return hanging(t).URL() },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const buffer, n = 8, 500
			s := startSink(t, decisionlog.Config{URL: url(t), BufferEvents: buffer, FlushInterval: time.Millisecond,
				MinRetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond, RequestTimeout: time.Second})
			for i := range n {
				s.Offer(context.Background(), decision(i))
				if b := s.Stats().Buffered; b > buffer {
					t.Fatalf("%d events buffered, bound %d", b, buffer)
				}
			}
			st := s.Stats()
			if st.Sent != 0 || st.Dropped < n-buffer || int(st.Dropped)+st.Buffered != n {
				t.Fatalf("stats: %+v", st)
			}
			if name != "never answers" {
				waitFor(t, "a failed upload", func() bool { return s.Stats().FailedUploads > 0 })
				waitFor(t, "the ERROR state", func() bool { return s.Status().State == lifecycle.Error })
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if err := s.Stop(ctx); err == nil {
				t.Fatal("Stop with the service down reports no loss")
			}
			if st := s.Stats(); st.Buffered != 0 || int(st.Dropped) != n {
				t.Fatalf("after Stop: %+v", st)
			}
		})
	}
}

// TestSinkSplitsByUploadLimit: no request body exceeds the upload limit compressed; an event
// that alone does not fit is dropped and counted, and the others all arrive.
func TestSinkSplitsByUploadLimit(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "/logs", nil)
	const limit = 1024
	s := startSink(t, decisionlog.Config{URL: r.URL(), UploadBytes: limit, FlushInterval: 10 * time.Millisecond})
	noise := make([]byte, 4096)
	rand.Read(noise)
	const n = 300
	for i := range n {
		d := decision(i)
		if i == 7 {
			d.Arguments = map[string]any{"blob": hex.EncodeToString(noise)} // incompressible, 8 KB
		}
		s.Offer(context.Background(), d)
	}
	waitFor(t, "every event that fits", func() bool { st := s.Stats(); return st.Sent+st.Dropped == n })
	st := s.Stats()
	if st.Sent != n-1 || st.Dropped != 1 {
		t.Fatalf("stats: %+v", st)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) < 2 {
		t.Fatalf("%d requests: the events were not split", len(r.bodies))
	}
	for _, b := range r.bodies {
		if len(b) > limit {
			t.Fatalf("a %d-byte body, limit %d", len(b), limit)
		}
	}
	if len(r.events) != n-1 || slices.ContainsFunc(r.events, func(ev map[string]any) bool { return ev["decision_id"] == decision(7).ID }) {
		t.Fatalf("%d events arrived", len(r.events))
	}
}

// TestSinkStopFlushes: Stop sends what is buffered without waiting for the interval; with
// the service refusing, Stop gives up when its context ends and reports the events lost.
func TestSinkStopFlushes(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "/logs", nil)
	s, err := decisionlog.New(decisionlog.Config{URL: r.URL(), FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	for i := range 20 {
		s.Offer(context.Background(), decision(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(r.got()); got != 20 {
		t.Fatalf("%d events sent at stop, want 20", got)
	}
	s.Offer(context.Background(), decision(21))
	if st := s.Stats(); st.Dropped != 1 || st.Sent != 20 {
		t.Fatalf("an offer after Stop is dropped and counted: %+v", st)
	}

	down := newReceiver(t, "/logs", func(int) int { return http.StatusServiceUnavailable })
	s, err = decisionlog.New(decisionlog.Config{URL: down.URL(), FlushInterval: time.Hour, MinRetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	for i := range 5 {
		s.Offer(context.Background(), decision(i))
	}
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = s.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "5 events") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with the service down: %v", err)
	}
	if st := s.Stats(); st.Dropped != 5 || st.Buffered != 0 || st.FailedUploads == 0 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestConfigRejectsMistakes(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]decisionlog.Config{
		"no URL":            {},
		"relative URL":      {URL: "logs.example.com/logs"},
		"other scheme":      {URL: "ftp://logs.example.com"},
		"credentials":       {URL: "https://user:pw@logs.example.com"},
		"query":             {URL: "https://logs.example.com?x=1"},
		"reserved label":    {URL: "https://logs.example.com", Labels: map[string]string{"id": "mine"}},
		"empty label":       {URL: "https://logs.example.com", Labels: map[string]string{"team": ""}},
		"tiny upload":       {URL: "https://logs.example.com", UploadBytes: 10},
		"negative buffer":   {URL: "https://logs.example.com", BufferEvents: -1},
		"max below min":     {URL: "https://logs.example.com", MinRetryDelay: time.Second, MaxRetryDelay: time.Millisecond},
		"bad header name":   {URL: "https://logs.example.com", Headers: map[string]string{"Bad Name": "x"}},
		"resource w/ query": {URL: "https://logs.example.com", Resource: "/logs?x"},
	} {
		var ce *decisionlog.ConfigError
		if _, err := decisionlog.New(c); !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a ConfigError", name, err)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: the error repeats the credentials: %v", name, err)
		}
	}
	if _, err := decisionlog.ParseLabels("a=1,b"); err == nil {
		t.Error("ParseLabels takes a pair without a value")
	}
	if m, err := decisionlog.ParseLabels(" a = 1 ,b=x=y,"); err != nil || m["a"] != "1" || m["b"] != "x=y" || len(m) != 2 {
		t.Errorf("ParseLabels: %v, %v", m, err)
	}
}
