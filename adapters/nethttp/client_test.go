package nethttp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/adapters/internal/adaptertest"
	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/client"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// TestGuardOverHTTPClient: a Guard that asks a remote Kavach through client.Client with an
// app key reports the client address it resolved, so X-Forwarded-For written by a trusted
// proxy reaches the agent's IP allowlist, and an untrusted peer cannot claim an address.
func TestGuardOverHTTPClient(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	root := kavach.WithActor(context.Background(), api.Root)
	a, err := srv.Kavach.Agents().Create(root, api.CreateAgentRequest{OwnerID: "alice", Name: "n", Permissions: []agent.Permission{
		{Resource: "http:internal", Actions: []string{"get"}, Constraints: &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(srv.URL, srv.Key(t, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}))
	if err != nil {
		t.Fatal(err)
	}
	serve := func(trusted []string) string {
		g, err := nethttp.New(nethttp.Config{Authorizer: c, TrustedProxies: trusted})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /internal", g.Middleware(http.HandlerFunc(reply)))
		s := httptest.NewServer(mux)
		t.Cleanup(s.Close)
		return s.URL
	}
	behindProxy, direct := serve([]string{"127.0.0.0/8", "::1"}), serve(nil)

	get := func(base, forwardedFor string) (int, nethttp.Problem) {
		req, _ := http.NewRequest(http.MethodGet, base+"/internal", nil)
		req.Header.Set("Authorization", "Bearer "+a.Token)
		req.Header.Set("X-Forwarded-For", forwardedFor)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var p nethttp.Problem
		if resp.StatusCode != http.StatusOK {
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		}
		return resp.StatusCode, p
	}
	if status, p := get(behindProxy, "10.1.2.3"); status != http.StatusOK {
		t.Errorf("a client inside the allowlist behind a trusted proxy: %d %+v", status, p)
	}
	if status, p := get(behindProxy, "192.0.2.7"); status != http.StatusForbidden || p.Reason != string(api.IPNotAllowed) {
		t.Errorf("a client outside the allowlist behind a trusted proxy: %d %+v", status, p)
	}
	if status, p := get(direct, "10.1.2.3"); status != http.StatusForbidden || p.Reason != string(api.IPNotAllowed) {
		t.Errorf("X-Forwarded-For from an untrusted peer was believed: %d %+v", status, p)
	}
}

// TestGuardPassesTraceToRemoteKavach: a Guard asking a remote Kavach through client.Client
// sends the incoming request's trace on: the Kavach it asks (a loopback server here)
// receives a traceparent in the caller's trace.
func TestGuardPassesTraceToRemoteKavach(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"allowed":true,"code":"ALLOWED","auditId":"a1","grant":"perm_1"}`)
	}))
	t.Cleanup(remote.Close)
	c, err := client.New(remote.URL, "kva_app")
	if err != nil {
		t.Fatal(err)
	}
	g, err := nethttp.New(nethttp.Config{Authorizer: c})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /repos/{id}", g.Middleware(http.HandlerFunc(reply)))
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)

	req, _ := http.NewRequest(http.MethodGet, s.URL+"/repos/42", nil)
	req.Header.Set("Authorization", "Bearer kv_"+strings.Repeat("A", 43))
	req.Header.Set("traceparent", adaptertest.Traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if tp := <-got; !strings.HasPrefix(tp, "00-"+adaptertest.TraceID+"-") {
		t.Errorf("the remote Kavach got traceparent %q, want trace %s", tp, adaptertest.TraceID)
	}
}
