// Package adaptertest is the conformance suite every HTTP framework adapter runs against
// its framework's real server: the same routes, agent and expectations for each.
package adaptertest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// SigningKey signs the test audit ledger.
const SigningKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// Serve starts the framework's server on loopback with the adapter configured by cfg and
// returns its base URL. The server must route, with the framework's own pattern syntax:
//
//	GET  /repos/{id}
//	POST /deploy
//	GET  /admin
//	GET  /internal
//
// each answering with Reply, and must be closed by a t.Cleanup.
type Serve func(t *testing.T, cfg nethttp.Config) string

// Seen is what a handler behind the adapter reports with Reply.
type Seen struct {
	Grant         string `json:"grant"`
	AuditID       string `json:"auditId"`
	Authorization string `json:"authorization"`
	// TraceID is the trace of the handler's context.
	TraceID string `json:"traceId"`
}

// Reply answers a request that got through with the decision the handler found.
func Reply(w http.ResponseWriter, r *http.Request, d *api.Decision) {
	s := Seen{Authorization: r.Header.Get("Authorization"), TraceID: TraceIDOf(r.Context())}
	if d != nil {
		s.Grant, s.AuditID = d.Grant, d.AuditID
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s)
}

// OAuthToken is the one access token the suite's verifier accepts.
const OAuthToken = "eyJhbGciOiJFUzI1NiJ9.oauth.token"

type verifier struct{ agentID string }

func (v verifier) VerifyAccessToken(_ context.Context, token string) (string, error) {
	if token == OAuthToken {
		return v.agentID, nil
	}
	return "", errors.New("the token's signature is not valid")
}

type fixture struct {
	k     *kavach.Kavach
	rec   *TraceRecorder // in front of k
	token string
	base  string // trusts no proxy
	proxy string // trusts loopback as a proxy
}

var app = api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}

// Run runs the suite against the adapter that serve starts.
func Run(t *testing.T, serve Serve) {
	ctx := api.WithActor(context.Background(), api.Root)
	k, err := kavach.Open(ctx, kavach.Config{
		Database: "sqlite://" + filepath.Join(t.TempDir(), "kavach.db"),
		Audit:    kavach.AuditConfig{SigningKey: SigningKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	a, err := k.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "alice", Name: "deployer", Permissions: []agent.Permission{
		{Resource: "http:repos:{id}", Actions: []string{"get"}, Constraints: &agent.Constraints{ArgumentPatterns: map[string]string{"id": "[0-9]+"}}},
		{Resource: "http:deploy", Actions: []string{"post"}, Constraints: &agent.Constraints{Approval: &agent.Approval{Required: true}}},
		{Resource: "http:internal", Actions: []string{"get"}, Constraints: &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	actor := app
	rec := NewTraceRecorder(k)
	cfg := nethttp.Config{Authorizer: rec, Actor: &actor, AccessTokens: verifier{a.ID}}
	f := &fixture{k: k, rec: rec, token: a.Token, base: serve(t, cfg)}
	cfg.TrustedProxies = []string{"127.0.0.0/8", "::1"}
	f.proxy = serve(t, cfg)

	t.Run("Allowed", f.allowed)
	t.Run("AllowedWithOAuthToken", f.allowedOAuth)
	t.Run("DeniedCodeMapped", f.denied)
	t.Run("MissingAndInvalidToken401", f.unauthenticated)
	t.Run("SpoofedForwardedForIgnored", f.spoofedForwardedFor)
	t.Run("ApprovalRequiredSurfaced", f.approvalRequired)
	t.Run("TraceContinued", f.traceContinued)
}

// Traceparent is a caller's W3C traceparent, in TraceID's trace.
const (
	TraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	Traceparent = "00-" + TraceID + "-00f067aa0ba902b7-01"
)

// TraceIDOf returns the trace id of ctx's span, or "".
func TraceIDOf(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// TraceRecorder is an api.Authorizer in front of Kavach that notes the trace of the
// context each decision was asked in, by audit id: the trace Kavach writes into the
// decision's audit event (traceId).
type TraceRecorder struct {
	api.Authorizer
	mu     sync.Mutex
	traces map[string]string
	recent []string // traces since the last Drain, in order
}

// NewTraceRecorder returns a TraceRecorder asking a.
func NewTraceRecorder(a api.Authorizer) *TraceRecorder {
	return &TraceRecorder{Authorizer: a, traces: map[string]string{}}
}

func (r *TraceRecorder) Authorize(ctx context.Context, agentID string, req api.AuthorizeRequest, cc api.CallContext) (*api.Decision, error) {
	d, err := r.Authorizer.Authorize(ctx, agentID, req, cc)
	r.note(ctx, d)
	return d, err
}

func (r *TraceRecorder) AuthorizeToken(ctx context.Context, token string, req api.AuthorizeRequest, cc api.CallContext) (*api.Decision, error) {
	d, err := r.Authorizer.AuthorizeToken(ctx, token, req, cc)
	r.note(ctx, d)
	return d, err
}

func (r *TraceRecorder) note(ctx context.Context, d *api.Decision) {
	if d != nil {
		r.mu.Lock()
		r.traces[d.AuditID] = TraceIDOf(ctx)
		r.recent = append(r.recent, TraceIDOf(ctx))
		r.mu.Unlock()
	}
}

// Drain returns the traces of the decisions asked since the last Drain, in order.
func (r *TraceRecorder) Drain() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	recent := r.recent
	r.recent = nil
	return recent
}

// TraceOf returns the trace the decision auditID was asked in.
func (r *TraceRecorder) TraceOf(t *testing.T, auditID string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	trace, ok := r.traces[auditID]
	if !ok {
		t.Fatalf("no decision %q was asked for", auditID)
	}
	return trace
}

// traceContinued: a request carrying traceparent is decided in the caller's trace (so its
// audit event names it), allowed or denied, and the handler's context continues it.
func (f *fixture) traceContinued(t *testing.T) {
	h := map[string]string{"traceparent": Traceparent, "tracestate": "vendor=1"}
	resp, body := do(t, http.MethodGet, f.base+"/repos/42", f.token, h)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var s Seen
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	if s.TraceID != TraceID {
		t.Errorf("the handler's context is in trace %q, want %s", s.TraceID, TraceID)
	}
	if got := f.rec.TraceOf(t, s.AuditID); got != TraceID {
		t.Errorf("the allowed decision was asked in trace %q, want %s", got, TraceID)
	}
	resp, body = do(t, http.MethodGet, f.base+"/admin", f.token, h)
	p := problem(t, resp, body, http.StatusForbidden)
	if got := f.rec.TraceOf(t, p.AuditID); got != TraceID {
		t.Errorf("the denied decision was asked in trace %q, want %s", got, TraceID)
	}
	// Without a traceparent, no trace is made up.
	resp, body = do(t, http.MethodGet, f.base+"/repos/43", f.token, nil)
	if err := json.Unmarshal(body, &s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := f.rec.TraceOf(t, s.AuditID); got != "" || s.TraceID != "" {
		t.Errorf("a request outside any trace was decided in trace %q (handler %q)", got, s.TraceID)
	}
}

func (f *fixture) allowed(t *testing.T) {
	resp, body := do(t, http.MethodGet, f.base+"/repos/42", f.token, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var s Seen
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	if s.Grant == "" || s.AuditID == "" {
		t.Errorf("the handler found no decision in its context: %s", body)
	}
	if s.Authorization != "" {
		t.Errorf("the handler saw the agent's credential %q", s.Authorization)
	}
}

func (f *fixture) allowedOAuth(t *testing.T) {
	resp, body := do(t, http.MethodGet, f.base+"/repos/7", OAuthToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}

func (f *fixture) denied(t *testing.T) {
	for _, c := range []struct {
		method, path string
		code         api.DecisionCode
	}{
		{http.MethodGet, "/admin", api.NoPermission},
		{http.MethodGet, "/repos/abc", api.ArgumentNotAllowed},
		{http.MethodPost, "/repos/42", ""}, // unrouted: the framework's own answer, never the handler
	} {
		resp, body := do(t, c.method, f.base+c.path, f.token, nil)
		if c.code == "" {
			if resp.StatusCode < 400 {
				t.Errorf("%s %s: status %d", c.method, c.path, resp.StatusCode)
			}
			continue
		}
		p := problem(t, resp, body, http.StatusForbidden)
		if p.Reason != string(c.code) || p.Code != api.CodeForbidden || p.AuditID == "" {
			t.Errorf("%s %s: want %s, got %s", c.method, c.path, c.code, body)
		}
	}
}

func (f *fixture) unauthenticated(t *testing.T) {
	for _, c := range []struct {
		name, token string
		reason      api.DecisionCode
	}{
		{"missing", "", ""},
		{"unknown agent token", "kv_" + strings.Repeat("A", 43), api.TokenInvalid},
		{"malformed agent token", "kv_nope", api.TokenInvalid},
		{"unverifiable access token", "eyJhbGciOiJub25lIn0.e30.", api.TokenInvalid},
	} {
		resp, body := do(t, http.MethodGet, f.base+"/repos/42", c.token, nil)
		p := problem(t, resp, body, http.StatusUnauthorized)
		if p.Reason != string(c.reason) || p.Code != api.CodeUnauthenticated {
			t.Errorf("%s: want reason %q, got %s", c.name, c.reason, body)
		}
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no Bearer challenge", c.name)
		}
	}
	// Only the Authorization header's Bearer scheme carries a token.
	req, _ := http.NewRequest(http.MethodGet, f.base+"/repos/42?access_token="+f.token, nil)
	resp, body := send(t, req)
	problem(t, resp, body, http.StatusUnauthorized)
	req, _ = http.NewRequest(http.MethodGet, f.base+"/repos/42", nil)
	req.Header.Set("Authorization", "Basic "+f.token)
	resp, body = send(t, req)
	problem(t, resp, body, http.StatusUnauthorized)
}

func (f *fixture) spoofedForwardedFor(t *testing.T) {
	spoof := map[string]string{"X-Forwarded-For": "10.1.2.3"}
	resp, body := do(t, http.MethodGet, f.base+"/internal", f.token, spoof)
	if p := problem(t, resp, body, http.StatusForbidden); p.Reason != string(api.IPNotAllowed) {
		t.Errorf("a client that trusts no proxy believed X-Forwarded-For: %s", body)
	}
	// Behind a trusted proxy the same header is believed.
	resp, body = do(t, http.MethodGet, f.proxy+"/internal", f.token, spoof)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("behind a trusted proxy: status %d: %s", resp.StatusCode, body)
	}
}

func (f *fixture) approvalRequired(t *testing.T) {
	resp, body := do(t, http.MethodPost, f.base+"/deploy", f.token, nil)
	p := problem(t, resp, body, http.StatusForbidden)
	if p.Reason != string(api.ApprovalRequired) || p.ApprovalID == "" {
		t.Fatalf("want APPROVAL_REQUIRED with an approval id, got %s", body)
	}
	ap, err := f.k.Approvals().Get(api.WithActor(context.Background(), api.Root), p.ApprovalID)
	if err != nil || ap.Resource != "http:deploy" || ap.Action != "post" {
		t.Fatalf("approval %s: %+v, %v", p.ApprovalID, ap, err)
	}
}

func do(t *testing.T, method, url, token string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// problem checks that a response is a problem document with the given status.
func problem(t *testing.T, resp *http.Response, body []byte, status int) nethttp.Problem {
	t.Helper()
	var p nethttp.Problem
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d: %s", resp.StatusCode, status, body)
		return p
	}
	if ct := resp.Header.Get("Content-Type"); ct != api.ProblemContentType {
		t.Errorf("content type %q, want %s", ct, api.ProblemContentType)
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Status != status {
		t.Errorf("not a problem document: %s", body)
	}
	return p
}
