package service_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp := send(t, "GET", srv.URL+path, "", ""); resp.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.status, resp.body)
		}
	}
	ctx := kavach.WithActor(context.Background(), api.Root)
	a, err := srv.Kavach.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "o", Name: "n",
		Permissions: []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"read", "write", "read"} {
		body := `{"agentId":"` + a.ID + `","action":"` + action + `","resource":"mcp:github:repos"}`
		if resp := send(t, "POST", srv.URL+"/v1/authorize", srv.RootKey, body); resp.status != http.StatusOK {
			t.Fatalf("authorize: %d", resp.status)
		}
	}
	send(t, "GET", srv.URL+"/no/such/route/"+a.ID, srv.RootKey, "")
	metrics := string(send(t, "GET", srv.URL+"/metrics", "", "").body)
	for _, want := range []string{
		`kavach_decisions_total{code="ALLOWED"} 2`,
		`kavach_decisions_total{code="NO_PERMISSION"} 1`,
		`kavach_decision_duration_seconds_count 3`,
		`kavach_http_requests_total{method="POST",route="/v1/authorize",status="200"} 3`,
		`kavach_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`kavach_http_request_duration_seconds_bucket{method="POST",route="/v1/authorize",le="+Inf"} 3`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, a.ID) {
		t.Error("metric labels must not carry ids")
	}
}

// TestReadinessFollowsTheStore: with the store gone the service is alive but not ready.
func TestReadinessFollowsTheStore(t *testing.T) {
	t.Parallel()
	k, err := kavach.Open(context.Background(), kavach.Config{Database: testserver.Backends[0].New(t), Audit: kavach.AuditConfig{SigningKey: testserver.AuditKey}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := service.New(k, service.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	if resp := send(t, "GET", ts.URL+"/readyz", "", ""); resp.status != http.StatusOK {
		t.Fatalf("readyz: %d", resp.status)
	}
	k.Close()
	resp := send(t, "GET", ts.URL+"/readyz", "", "")
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz over a closed store: %d", resp.status)
	}
	resp.problem(t)
	if resp := send(t, "GET", ts.URL+"/healthz", "", ""); resp.status != http.StatusOK {
		t.Fatalf("healthz over a closed store: %d", resp.status)
	}
}

// slowFacade holds authorize calls until released, to have requests in flight.
type slowFacade struct {
	*kavach.Kavach
	entered chan struct{}
	release chan struct{}
}

func (s slowFacade) Authorize(ctx context.Context, id string, req api.AuthorizeRequest, cc api.CallContext) (*api.Decision, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.Kavach.Authorize(ctx, id, req, cc)
}

// TestShutdownDrainsRequestsInFlight: once asked to stop, Serve refuses new connections but
// lets a request in flight finish before it returns.
func TestShutdownDrainsRequestsInFlight(t *testing.T) {
	t.Parallel()
	k, err := kavach.Open(context.Background(), kavach.Config{Database: testserver.Backends[0].New(t), Audit: kavach.AuditConfig{SigningKey: testserver.AuditKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	key, _, err := k.BootstrapAPIKey(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	slow := slowFacade{k, make(chan struct{}, 1), make(chan struct{})}
	srv, err := service.New(slow, service.Config{ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	answered := make(chan response, 1)
	go func() {
		answered <- send(t, "POST", url+"/v1/authorize", key, `{"agentId":"agt_x","action":"read","resource":"r"}`)
	}()
	<-slow.entered
	stop()
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("a draining server still accepts connections")
	}
	close(slow.release)
	if resp := <-answered; resp.status != http.StatusOK {
		t.Fatalf("the request in flight got %d: %s", resp.status, resp.body)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestAuditMetrics: the audit ledger's queue, commits and relay lag reach /metrics.
func TestAuditMetrics(t *testing.T) {
	t.Parallel()
	k, err := kavach.Open(context.Background(), kavach.Config{Database: testserver.Backends[0].New(t), Audit: kavach.AuditConfig{SigningKey: testserver.AuditKey, Sync: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	srv, err := service.New(k, service.Config{Collectors: service.AuditCollectors(k)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	ctx := kavach.WithActor(context.Background(), api.Root)
	for range 3 {
		if _, err := k.Authorize(ctx, "agt_unknown", api.AuthorizeRequest{Action: "read", Resource: "x"}, api.CallContext{}); err != nil {
			t.Fatal(err)
		}
	}
	body := string(send(t, "GET", ts.URL+"/metrics", "", "").body)
	for _, want := range []string{"kavach_audit_queue_depth 0", "kavach_audit_events_written_total 3",
		"kavach_audit_commits_total 3",
		"kavach_audit_failed_closed_total 0", "kavach_audit_relay_lag 0", "kavach_audit_integrity_errors_total 0",
		"kavach_audit_witness_failures_total 0", `kavach_part_state{part="audit.pipeline",state="OK"} 1`,
		`kavach_part_state{part="audit.pipeline",state="ERROR"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
