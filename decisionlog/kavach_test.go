package decisionlog_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/client"
	"github.com/kavachos/kavach-go/decisionlog"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// served is Kavach on a fresh SQLite database with the decision-log export, behind the real
// HTTP service on a loopback port, its /metrics carrying the export's series as `kavach
// serve` does.
type served struct {
	k   *kavach.Kavach
	url string
	key string
	c   *client.Client
}

func serveKavach(t *testing.T, dl decisionlog.Config, mask ...string) *served {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dl.Logger = quiet
	if dl.StopTimeout == 0 {
		dl.StopTimeout = 100 * time.Millisecond // a receiver down holds the close no longer
	}
	k, err := kavach.Open(ctx, kavach.Config{
		Database: "sqlite://" + filepath.Join(t.TempDir(), "kavach.db"), Logger: quiet,
		Audit:       kavach.AuditConfig{SigningKey: testserver.AuditKey, Sync: true, Mask: mask},
		DecisionLog: dl,
	})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := k.BootstrapAPIKey(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := service.New(k, service.Config{Logger: quiet, Collectors: service.DecisionLogCollectors(k)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		<-done
		k.Close()
	})
	url := "http://" + ln.Addr().String()
	c, err := client.New(url, key)
	if err != nil {
		t.Fatal(err)
	}
	return &served{k: k, url: url, key: key, c: c}
}

var root = kavach.WithActor(context.Background(), api.Root)

func (s *served) agent(t *testing.T) string {
	t.Helper()
	a, err := s.c.Agents().Create(context.Background(), api.CreateAgentRequest{
		OwnerID: "user_1", Name: "reviewer", Permissions: []agent.Permission{
			{Resource: "mcp:github:*", Actions: []string{"read"}},
			{Resource: "mcp:slack:*", Actions: []string{"post"}, Constraints: &agent.Constraints{
				RateLimit: &agent.RateLimit{Max: 1, Window: agent.Duration(time.Hour)}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// TestKavachDecisionsAsOPAEvents: decisions made over the HTTP API reach a decision-log
// receiver as OPA events whose ids are the audit ids, whose input and result are the audited
// call and the API's answer, whose bundles revision is the audited revision, whose timestamp
// is the audited time, whose trace is the caller's, and from which masked arguments are gone.
// Invalid-token decisions are not exported.
func TestKavachDecisionsAsOPAEvents(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "/logs", nil)
	s := serveKavach(t, decisionlog.Config{URL: r.URL(), FlushInterval: 20 * time.Millisecond,
		Labels: map[string]string{"env": "test"}}, "password")
	id := s.agent(t)
	ctx := context.Background()
	cc := api.CallContext{IP: "203.0.113.7", UserAgent: "agent-sdk/1.0"}
	answers := map[string]*api.Decision{}
	decide := func(agentID string, req api.AuthorizeRequest) *api.Decision {
		t.Helper()
		d, err := s.c.Authorize(ctx, agentID, req, cc)
		if err != nil {
			t.Fatal(err)
		}
		answers[d.AuditID] = d
		return d
	}
	secret := map[string]any{"password": "hunter2", "repo": "kavach"}
	if d := decide(id, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos", Arguments: secret}); !d.Allowed {
		t.Fatalf("%+v", d)
	}
	decide(id, api.AuthorizeRequest{Action: "write", Resource: "mcp:github:repos"})
	decide(id, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:issues", DryRun: true})
	decide(id, api.AuthorizeRequest{Action: "post", Resource: "mcp:slack:general"})
	if d := decide(id, api.AuthorizeRequest{Action: "post", Resource: "mcp:slack:general"}); d.Code != api.RateLimited || d.RetryAfter == 0 {
		t.Fatalf("%+v", d)
	}
	decide("agt_unknown", api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"})
	if d, err := s.c.AuthorizeToken(ctx, "kv_not-a-token", api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}, cc); err != nil || d.Code != api.TokenInvalid {
		t.Fatalf("%+v, %v", d, err)
	}
	// In process, under the caller's trace.
	tctx, sc := spanContext(t)
	traced, err := s.k.Authorize(kavach.WithActor(tctx, api.Root), id, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}, cc)
	if err != nil {
		t.Fatal(err)
	}
	answers[traced.AuditID] = traced

	waitFor(t, "the traced decision's event", func() bool {
		for _, ev := range r.got() {
			if ev["decision_id"] == traced.AuditID {
				return true
			}
		}
		return false
	})
	events := r.got()
	if len(events) != len(answers) {
		t.Fatalf("%d events for %d decisions (the invalid-token decision is left out)", len(events), len(answers))
	}
	asOPA(t, r)
	for _, body := range r.raw {
		if bytes.Contains(body, []byte("hunter2")) || bytes.Contains(body, []byte(s.key)) {
			t.Fatalf("a masked argument or a key in an event: %s", body)
		}
	}
	page, err := s.k.Audit().Query(root, api.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]agent.AuditEvent{}
	for _, e := range page.Events {
		audited[e.ID] = e
	}
	for _, ev := range events {
		checkOPAFields(t, ev)
		id, _ := ev["decision_id"].(string)
		ae, ok := audited[id]
		answer := answers[id]
		if !ok || answer == nil {
			t.Fatalf("event %s is no audited decision of this test", id)
		}
		in := ev["input"].(map[string]any)
		if in["agentId"] != ae.AgentID || in["tenantId"] != ae.TenantID || in["action"] != ae.Action ||
			in["resource"] != ae.Resource || in["ip"] != ae.IP || in["userAgent"] != ae.UserAgent ||
			in["dryRun"] != (ae.Result == "check") {
			t.Errorf("input %v does not match the audited call %+v", in, ae)
		}
		if args, ok := in["arguments"].(map[string]any); ok {
			if _, masked := args["password"]; masked || args["repo"] != "kavach" {
				t.Errorf("arguments: %v", args)
			}
		}
		rev := ev["bundles"].(map[string]any)[decisionlog.Bundle].(map[string]any)["revision"]
		if ae.Revision == "" || rev != ae.Revision {
			t.Errorf("bundles revision %v, audited %q", rev, ae.Revision)
		}
		if ts, _ := time.Parse(time.RFC3339Nano, ev["timestamp"].(string)); !ts.Equal(ae.Time) {
			t.Errorf("timestamp %v, audited %v", ev["timestamp"], ae.Time)
		}
		res := ev["result"].(map[string]any)
		if res["allowed"] != answer.Allowed || res["code"] != string(answer.Code) || res["reason"] != answer.Reason ||
			res["code"] != ae.Code || str(res["grant"]) != answer.Grant || str(res["approvalId"]) != answer.ApprovalID ||
			str(res["retryAfter"]) != durationOrEmpty(answer.RetryAfter) {
			t.Errorf("result %v, answered %+v", res, answer)
		}
		if labels := ev["labels"].(map[string]any); labels["env"] != "test" {
			t.Errorf("labels %v", labels)
		}
		if ev["requested_by"] == "" || ev["requested_by"] != ae.Actor {
			t.Errorf("requested_by %v, audited actor %q", ev["requested_by"], ae.Actor)
		}
		if id == traced.AuditID {
			if ev["trace_id"] != sc.TraceID().String() || ae.TraceID != sc.TraceID().String() || !hex16.MatchString(str(ev["span_id"])) {
				t.Errorf("traced decision: event trace %v span %v, audited trace %q", ev["trace_id"], ev["span_id"], ae.TraceID)
			}
		} else if ev["trace_id"] != nil && ev["trace_id"] != ae.TraceID {
			t.Errorf("trace %v, audited %q", ev["trace_id"], ae.TraceID)
		}
	}
	first := events[0]
	if erased := first["erased"].([]any); len(erased) != 1 || erased[0] != "/input/arguments/password" {
		t.Errorf("erased: %v", first["erased"])
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func durationOrEmpty(d agent.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// TestKavachDecisionsWithTheReceiverDown: with the decision-log service refusing
// connections, answering 503, or never answering, every decision is still answered
// correctly, at once, and audited; the instance stays ready; the buffer stays within its
// bound and the drops show in /metrics.
func TestKavachDecisionsWithTheReceiverDown(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T) (url string, release func()){
		"nothing listening": func(t *testing.T) (string, func()) { return closedURL(t), func() {} },
		"503": func(t *testing.T) (string, func()) {
			return newReceiver(t, "", func(int) int { return http.StatusServiceUnavailable }).URL(), func() {}
		},
		"never answers": func(t *testing.T) (string, func()) { r := hanging(t); return r.URL(), r.release },
	}
	for name, receiver := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url, release := receiver(t)
			const buffer, calls = 5, 40
			s := serveKavach(t, decisionlog.Config{URL: url, BufferEvents: buffer, FlushInterval: 10 * time.Millisecond,
				MinRetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond, RequestTimeout: time.Minute})
			t.Cleanup(release) // before Kavach closes: a stop would otherwise wait out its budget
			id := s.agent(t)
			for i := range calls {
				start := time.Now()
				d, err := s.c.Authorize(context.Background(), id, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}, api.CallContext{})
				if err != nil || !d.Allowed || d.Code != api.Allowed || d.AuditID == "" {
					t.Fatalf("call %d: %+v, %v", i, d, err)
				}
				// An upload in this case would take a minute to time out: the decision
				// does not wait for it.
				if took := time.Since(start); took > 20*time.Second {
					t.Fatalf("call %d took %s", i, took)
				}
			}
			if code := get(t, s.url+"/readyz"); code != http.StatusOK {
				t.Fatalf("/readyz %d with the decision-log service down", code)
			}
			var m map[string]float64
			waitFor(t, "every decision counted as dropped or buffered in /metrics", func() bool {
				m = scrape(t, s.url)
				return m["kavach_decision_log_events_dropped_total"]+m["kavach_decision_log_buffered_events"] == calls
			})
			if m["kavach_decision_log_events_dropped_total"] < calls-buffer || m["kavach_decision_log_buffered_events"] > buffer ||
				m["kavach_decision_log_events_sent_total"] != 0 {
				t.Fatalf("metrics: %v", m)
			}
			if name != "never answers" {
				waitFor(t, "failed uploads and the ERROR state in /metrics", func() bool {
					m = scrape(t, s.url)
					return m["kavach_decision_log_upload_failures_total"] > 0 && m[`kavach_part_state{part="decision.log",state="ERROR"}`] == 1
				})
			}
			page, err := s.k.Audit().Query(root, api.AuditQuery{AgentID: id, Code: string(api.Allowed), Limit: 100})
			if err != nil || len(page.Events) != calls {
				t.Fatalf("audited %d of %d decisions: %v", len(page.Events), calls, err)
			}
		})
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// scrape reads /metrics into series → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
