package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/decisionlog"
	"github.com/kavachos/kavach-go/internal/testserver"
)

var decisionLogEnv = []string{"KAVACH_CONFIG", "KAVACH_DECISION_LOG_URL", "KAVACH_DECISION_LOG_RESOURCE",
	"KAVACH_DECISION_LOG_TOKEN", "KAVACH_DECISION_LOG_HEADERS", "KAVACH_DECISION_LOG_LABELS", "KAVACH_DECISION_LOG_BUFFER",
	"KAVACH_DECISION_LOG_UPLOAD_BYTES", "KAVACH_DECISION_LOG_FLUSH_INTERVAL", "KAVACH_DECISION_LOG_MIN_RETRY_DELAY",
	"KAVACH_DECISION_LOG_MAX_RETRY_DELAY"}

// TestServeDecisionLogSettings: the decision-log settings come from the YAML file (labels
// and headers as mappings or as name=value strings), KAVACH_DECISION_LOG_* and flags, in
// that rising order, and reach the export's configuration; off unless a URL is set.
func TestServeDecisionLogSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kavach.yaml")
	writeFile(t, file, `
decisionLogURL: https://logs.example.com/opa
decisionLogResource: /v1/decisions
decisionLogLabels: {region: eu, team: platform}
decisionLogHeaders: X-Org=acme
decisionLogBuffer: 500
decisionLogUploadBytes: 65536
decisionLogFlushInterval: 2s
decisionLogMinRetryDelay: 50ms
decisionLogMaxRetryDelay: 30s
`)
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c decisionlog.Config)
	}{
		{"off by default", nil, nil, func(t *testing.T, c decisionlog.Config) {
			if c.Enabled() || c.URL != "" || c.Labels != nil {
				t.Errorf("%+v", c)
			}
		}},
		{"file", map[string]string{"KAVACH_CONFIG": file}, nil, func(t *testing.T, c decisionlog.Config) {
			if c.URL != "https://logs.example.com/opa" || c.Resource != "/v1/decisions" || c.Labels["region"] != "eu" ||
				c.Labels["team"] != "platform" || c.Headers["X-Org"] != "acme" || c.BufferEvents != 500 || c.UploadBytes != 65536 ||
				c.FlushInterval != 2*time.Second || c.MinRetryDelay != 50*time.Millisecond || c.MaxRetryDelay != 30*time.Second {
				t.Errorf("%+v", c)
			}
		}},
		{"environment over file", map[string]string{"KAVACH_CONFIG": file, "KAVACH_DECISION_LOG_TOKEN": "env-token",
			"KAVACH_DECISION_LOG_LABELS": "env=staging", "KAVACH_DECISION_LOG_BUFFER": "700",
			"KAVACH_DECISION_LOG_FLUSH_INTERVAL": "3s"}, nil, func(t *testing.T, c decisionlog.Config) {
			if c.Token != "env-token" || len(c.Labels) != 1 || c.Labels["env"] != "staging" || c.BufferEvents != 700 ||
				c.FlushInterval != 3*time.Second || c.URL != "https://logs.example.com/opa" {
				t.Errorf("%+v", c)
			}
		}},
		{"flags over environment", map[string]string{"KAVACH_DECISION_LOG_URL": "http://env.example.com", "KAVACH_DECISION_LOG_BUFFER": "700",
			"KAVACH_DECISION_LOG_LABELS": "env=staging"},
			[]string{"--decision-log-url", "http://flag.example.com", "--decision-log-buffer", "900", "--decision-log-labels", "env=prod,dc=fra",
				"--decision-log-token", "flag-token", "--decision-log-headers", "X-A=1,X-B=2", "--decision-log-upload-bytes", "4096"},
			func(t *testing.T, c decisionlog.Config) {
				if c.URL != "http://flag.example.com" || c.BufferEvents != 900 || len(c.Labels) != 2 || c.Labels["env"] != "prod" ||
					c.Labels["dc"] != "fra" || c.Token != "flag-token" || c.Headers["X-B"] != "2" || c.UploadBytes != 4096 {
					t.Errorf("%+v", c)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range decisionLogEnv {
				t.Setenv(k, tc.env[k])
			}
			c, err := parseServe(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c.DecisionLog.config())
		})
	}
	for _, k := range decisionLogEnv {
		t.Setenv(k, "")
	}
	t.Setenv("KAVACH_DECISION_LOG_LABELS", "novalue")
	if _, err := parseServe(t); err == nil || !strings.Contains(err.Error(), "KAVACH_DECISION_LOG_LABELS") {
		t.Fatalf("malformed labels from the environment: %v", err)
	}
}

// logReceiver is a decision-log service for the served binary: it decodes OPA's gzip JSON
// arrays and keeps the events and each request's Authorization header.
type logReceiver struct {
	mu     sync.Mutex
	events []map[string]any
	auth   []string
}

func (l *logReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/logs" || r.Header.Get("Content-Encoding") != "gzip" ||
		r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "not OPA's upload protocol", http.StatusBadRequest)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	var events []map[string]any
	if err == nil {
		err = json.NewDecoder(zr).Decode(&events)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, events...)
	l.auth = append(l.auth, r.Header.Get("Authorization"))
}

func (l *logReceiver) find(id string) (map[string]any, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, ev := range l.events {
		if ev["decision_id"] == id {
			return ev, l.auth[min(i, len(l.auth)-1)]
		}
	}
	return nil, ""
}

// TestServeDecisionLog: `kavach serve` configured from the environment and flags sends its
// decisions to a decision-log receiver, without masked arguments; with the receiver down it
// answers, stays ready and shows the drops in /metrics; a bad URL stops the start.
func TestServeDecisionLog(t *testing.T) {
	t.Parallel()
	recv := &logReceiver{}
	ts := httptest.NewServer(recv)
	defer ts.Close()

	args := []string{"--audit-signing-key", testserver.AuditKey, "--audit-mask", "password",
		"--decision-log-labels", "env=ci", "--decision-log-flush-interval", "50ms"}
	s := startServe(t, t.TempDir(), []string{"KAVACH_DECISION_LOG_URL=" + ts.URL, "KAVACH_DECISION_LOG_TOKEN=dl-secret"}, args...)
	key := bootstrapKey(t, s.log())
	id := createAgent(t, s.url, key)
	var d api.Decision
	if code := call(t, "POST", s.url+"/v1/authorize", key,
		`{"agentId":"`+id+`","action":"read","resource":"mcp:github:repos","arguments":{"password":"hunter2","repo":"kavach"}}`, &d); code != http.StatusOK || !d.Allowed {
		t.Fatalf("authorize: %d %+v", code, d)
	}
	var ev map[string]any
	var auth string
	waitUntil(t, "the decision's event", func() bool { ev, auth = recv.find(d.AuditID); return ev != nil })
	labels, _ := ev["labels"].(map[string]any)
	input, _ := ev["input"].(map[string]any)
	args2, _ := input["arguments"].(map[string]any)
	if auth != "Bearer dl-secret" || labels["env"] != "ci" || labels["app"] != "kavach" || labels["id"] == nil ||
		ev["path"] != decisionlog.Path || input["agentId"] != id || args2["repo"] != "kavach" || args2["password"] != nil {
		t.Fatalf("event %v, authorization %q", ev, auth)
	}
	s.stop(t)

	// The receiver down: nothing listens on its port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	s = startServe(t, t.TempDir(), nil, "--audit-signing-key", testserver.AuditKey, "--decision-log-url", down,
		"--decision-log-buffer", "3", "--decision-log-flush-interval", "10ms", "--decision-log-max-retry-delay", "20ms")
	key = bootstrapKey(t, s.log())
	id = createAgent(t, s.url, key)
	const calls = 12
	for i := range calls {
		var d api.Decision
		if code := call(t, "POST", s.url+"/v1/authorize", key, `{"agentId":"`+id+`","action":"read","resource":"mcp:github:repos"}`, &d); code != http.StatusOK || !d.Allowed || d.AuditID == "" {
			t.Fatalf("call %d: %d %+v", i, code, d)
		}
	}
	if code := call(t, "GET", s.url+"/readyz", "", "", nil); code != http.StatusOK {
		t.Fatalf("/readyz %d with the decision-log receiver down", code)
	}
	waitUntil(t, "the drops in /metrics", func() bool {
		m := metricsOf(t, s.url)
		return m["kavach_decision_log_events_dropped_total"] >= calls-3 && m["kavach_decision_log_upload_failures_total"] > 0 &&
			m["kavach_decision_log_events_dropped_total"]+m["kavach_decision_log_buffered_events"] == calls
	})
	s.stop(t)

	cmd := exec.Command(binary, "serve", "--listen", "127.0.0.1:0", "--decision-log-url", "ftp://logs.example.com")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "KAVACH_DATABASE=", "KAVACH_BOOTSTRAP_ADMIN_KEY=", "KAVACH_CONFIG=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "decision log: URL") {
		t.Fatalf("a bad decision-log URL must stop the start: %v\n%s", err, out)
	}
}

func createAgent(t *testing.T, url, key string) string {
	t.Helper()
	var created api.AgentWithToken
	if code := call(t, "POST", url+"/v1/agents", key,
		`{"ownerId":"user_1","name":"reviewer","permissions":[{"resource":"mcp:github:*","actions":["read"]}]}`, &created); code != http.StatusCreated {
		t.Fatalf("create agent: %d", code)
	}
	return created.ID
}

// waitUntil polls cond until it holds, failing after a generous deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metricsOf reads /metrics into series → value.
func metricsOf(t *testing.T, url string) map[string]float64 {
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
		if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				out[line[:i]] = v
			}
		}
	}
	return out
}
