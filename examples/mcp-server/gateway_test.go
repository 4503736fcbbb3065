package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/adapters/mcpgateway"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/mcpauth"
	"github.com/kavachos/kavach-go/oidc"
)

// gatewayWorld is the example MCP server with no protection of its own, Kavach with its
// authorization server, and the gateway in front of the MCP server.
type gatewayWorld struct {
	as       *oauthtest.Server
	resource string // the gateway's MCP endpoint

	mu   sync.Mutex
	seen []http.Header // the headers of every request the upstream received
}

// newGatewayWorld starts the world; jsonResponses makes the upstream answer POSTs with
// plain JSON instead of event streams.
func newGatewayWorld(t *testing.T, jsonResponses bool) *gatewayWorld {
	t.Helper()
	return newGatewayWorldWith(t, jsonResponses, nil)
}

// newGatewayWorldWith is newGatewayWorld with a say over the gateway's configuration.
func newGatewayWorldWith(t *testing.T, jsonResponses bool, configure func(*mcpgateway.Config)) *gatewayWorld {
	t.Helper()
	w := &gatewayWorld{}
	srv := NewMCPServer()
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{JSONResponse: jsonResponses})
	upstream := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.seen = append(w.seen, r.Header.Clone())
		w.mu.Unlock()
		mcpHandler.ServeHTTP(rw, r)
	}))
	t.Cleanup(upstream.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.resource = resourceURL(ln.Addr().String())
	w.as = oauthtest.Start(t, testserver.Backends[0].New(t), oidc.Config{
		Login:     oidc.LoginConfig{DevLogin: true, DevAutoApprove: true},
		Resources: map[string]string{w.resource: ServerName},
	})
	admin := api.Actor{Role: api.RoleAdmin, TenantID: agent.DefaultTenant}
	cfg := mcpgateway.Config{
		Upstream: upstream.URL + "/mcp", Server: ServerName, Resource: w.resource, Issuer: w.as.Issuer,
		Kavach: w.as.Kavach, Actor: &admin,
	}
	if configure != nil {
		configure(&cfg)
	}
	gw, err := mcpgateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gs := &http.Server{Handler: gw, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(func() { gs.Close() })
	return w
}

func (w *gatewayWorld) root() context.Context {
	return kavach.WithActor(context.Background(), api.Root)
}

// upstreamSaw reports whether any request reaching the upstream carried a credential.
func (w *gatewayWorld) upstreamSaw(t *testing.T, secret string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) == 0 {
		t.Fatal("the upstream received nothing")
	}
	for _, h := range w.seen {
		for name, vs := range h {
			for _, v := range vs {
				if name == "Authorization" || name == "Cookie" || (secret != "" && strings.Contains(v, secret)) {
					t.Fatalf("the upstream saw the client's credential in %s: %q", name, v)
				}
			}
		}
	}
}

// connectWithToken connects the SDK client to the gateway with a fixed bearer token.
func connectWithToken(t *testing.T, endpoint, token string) *mcp.ClientSession {
	t.Helper()
	transport := http.RoundTripper(bearer(token))
	s, err := mcp.NewClient(&mcp.Implementation{Name: "gateway-e2e", Version: "1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: transport}}, nil)
	if err != nil {
		t.Fatalf("connecting through the gateway: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func toolNames(t *testing.T, s *mcp.ClientSession) []string {
	t.Helper()
	res, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// denial calls a tool and returns the decision of the JSON-RPC denial it must get.
func denial(t *testing.T, s *mcp.ClientSession, tool string, args map[string]any) mcpauth.DeniedData {
	t.Helper()
	_, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	var rpcErr *jsonrpc.Error
	var data mcpauth.DeniedData
	if !errors.As(err, &rpcErr) || rpcErr.Code != mcpauth.DeniedCode || json.Unmarshal(rpcErr.Data, &data) != nil {
		t.Fatalf("tools/call %s: %v, want a JSON-RPC denial", tool, err)
	}
	return data
}

// TestGatewayWithAgentToken: an agent with a kv_ token, through the gateway, to the
// unprotected example server: tools/list shows only what it may call and consumes nothing,
// tools/call is allowed or denied (argument patterns, rate limits, approvals), the upstream
// never sees the token, and every call is audited.
func TestGatewayWithAgentToken(t *testing.T) {
	t.Parallel()
	for _, jsonResponses := range []bool{false, true} {
		t.Run(map[bool]string{false: "EventStream", true: "JSON"}[jsonResponses], func(t *testing.T) {
			t.Parallel()
			gatewayWithAgentToken(t, newGatewayWorld(t, jsonResponses))
		})
	}
}

func gatewayWithAgentToken(t *testing.T, w *gatewayWorld) {
	ctx := w.root()
	a, err := w.as.Kavach.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "alice", Name: "gateway-agent", Permissions: []agent.Permission{
		{Resource: "mcp:example:echo", Actions: []string{"call"}, Constraints: &agent.Constraints{ArgumentPatterns: map[string]string{"text": "hello.*"}}},
		{Resource: "mcp:example:add", Actions: []string{"call"}, Constraints: &agent.Constraints{RateLimit: &agent.RateLimit{Max: 1, Window: agent.Duration(time.Hour)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := connectWithToken(t, w.resource, a.Token)

	for range 3 { // listing takes no rate slot
		if got := toolNames(t, s); !slices.Equal(got, []string{"add", "echo"}) {
			t.Fatalf("tools/list: %v, want add and echo only", got)
		}
	}
	if got := callText(t, s, "add", map[string]any{"a": 40, "b": 2}); got != "42" {
		t.Fatalf("add: %q", got)
	}
	if d := denial(t, s, "add", map[string]any{"a": 1, "b": 1}); d.Code != api.RateLimited {
		t.Fatalf("second add: %+v, want RATE_LIMITED", d)
	}
	if got := callText(t, s, "echo", map[string]any{"text": "hello gateway"}); got != "hello gateway" {
		t.Fatalf("echo: %q", got)
	}
	if d := denial(t, s, "echo", map[string]any{"text": "goodbye"}); d.Code != api.ArgumentNotAllowed || d.AuditID == "" {
		t.Fatalf("echo with a refused argument: %+v", d)
	}
	if d := denial(t, s, "delete_file", map[string]any{"path": "/etc"}); d.Code != api.NoPermission {
		t.Fatalf("delete_file: %+v", d)
	}
	w.upstreamSaw(t, a.Token)

	page, err := w.as.Kavach.Audit().Query(ctx, api.AuditQuery{AgentID: a.ID, Order: "asc"})
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	checks := 0
	for _, e := range page.Events {
		switch {
		case e.Kind == "decision" && e.Result == "check":
			checks++
		case e.Kind == "decision":
			calls = append(calls, e.Resource+"="+e.Code)
		}
	}
	want := []string{"mcp:example:add=ALLOWED", "mcp:example:add=RATE_LIMITED", "mcp:example:echo=ALLOWED",
		"mcp:example:echo=ARGUMENT_NOT_ALLOWED", "mcp:example:delete_file=NO_PERMISSION"}
	if !slices.Equal(calls, want) {
		t.Fatalf("audited calls %v, want %v", calls, want)
	}
	if checks != 9 { // three listings of three tools, audited as checks
		t.Fatalf("%d audited tools/list checks, want 9", checks)
	}
}

// TestGatewayApprovalAndBadTokens: listing an approval-gated tool opens no approval
// request; calling it does, and the denial carries its id. Requests without a valid
// credential never reach the upstream.
func TestGatewayApprovalAndBadTokens(t *testing.T) {
	t.Parallel()
	w := newGatewayWorld(t, false)
	ctx := w.root()
	a, err := w.as.Kavach.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "bob", Name: "careful", Permissions: []agent.Permission{
		{Resource: "mcp:example:delete_file", Actions: []string{"call"}, Constraints: &agent.Constraints{Approval: &agent.Approval{Required: true}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := connectWithToken(t, w.resource, a.Token)
	if got := toolNames(t, s); !slices.Equal(got, []string{"delete_file"}) {
		t.Fatalf("tools/list: %v", got)
	}
	pending := func() int {
		list, err := w.as.Kavach.Approvals().List(ctx, api.ListApprovalsRequest{AgentID: a.ID})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.Approvals)
	}
	if n := pending(); n != 0 {
		t.Fatalf("listing opened %d approval requests", n)
	}
	d := denial(t, s, "delete_file", map[string]any{"path": "/tmp/x"})
	if d.Code != api.ApprovalRequired || d.ApprovalID == "" {
		t.Fatalf("delete_file: %+v, want APPROVAL_REQUIRED with an approval id", d)
	}
	if n := pending(); n != 1 {
		t.Fatalf("%d approval requests after the call, want 1", n)
	}

	w.mu.Lock()
	before := len(w.seen)
	w.mu.Unlock()
	for _, token := range []string{"", "kv_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not-a-jwt"} {
		req, _ := http.NewRequest(http.MethodPost, w.resource, nil)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resourceMetadata.FindString(resp.Header.Get("WWW-Authenticate")) == "" {
			t.Fatalf("token %q: %d %q", token, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) != before {
		t.Fatal("an unauthenticated request reached the upstream")
	}
}

// TestGatewayWithOAuth: the SDK's own OAuth client discovers the gateway's RFC 9728
// metadata, registers, logs in and calls through the gateway with a Kavach access token;
// narrowing the consented agent narrows tools/list and tools/call.
func TestGatewayWithOAuth(t *testing.T) {
	t.Parallel()
	w := newGatewayWorld(t, false)
	s := connect(t, w.resource, &auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName: "SDK client via gateway", RedirectURIs: []string{sdkRedirect}, TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"authorization_code", "refresh_token"},
		}},
	})
	if got := toolNames(t, s); !slices.Equal(got, []string{"add", "delete_file", "echo"}) {
		t.Fatalf("tools/list: %v", got)
	}
	list, err := w.as.Kavach.Agents().List(w.root(), api.ListAgentsRequest{OwnerID: "dev-user"})
	if err != nil || len(list.Agents) != 1 {
		t.Fatalf("the consented agent: %+v, %v", list, err)
	}
	only := []agent.Permission{{Resource: "mcp:example:echo", Actions: []string{"call"}}}
	if _, err := w.as.Kavach.Agents().Update(w.root(), list.Agents[0].ID, api.UpdateAgentRequest{Permissions: &only}); err != nil {
		t.Fatal(err)
	}
	if got := toolNames(t, s); !slices.Equal(got, []string{"echo"}) {
		t.Fatalf("tools/list after narrowing: %v", got)
	}
	if got := callText(t, s, "echo", map[string]any{"text": "via oauth"}); got != "via oauth" {
		t.Fatalf("echo: %q", got)
	}
	if d := denial(t, s, "add", map[string]any{"a": 1, "b": 2}); d.Code != api.NoPermission {
		t.Fatalf("add: %+v", d)
	}
	w.upstreamSaw(t, "")
}

// TestGatewayRefusesUndecodableBodies: a POST the gateway cannot read as JSON-RPC (a tool
// name that is not a string, params that are not an object, a batch with a member that is
// not a message, no JSON at all) is a 400 parse error and never reaches the upstream, so an
// upstream that reads such a body differently cannot run a call that was not judged.
func TestGatewayRefusesUndecodableBodies(t *testing.T) {
	t.Parallel()
	w := newGatewayWorld(t, false)
	a, err := w.as.Kavach.Agents().Create(w.root(), api.CreateAgentRequest{OwnerID: "carol", Name: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["delete_file"]}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"delete_file"}`,
		`[1,{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_file"}}]`,
		`not json`,
	} {
		req, _ := http.NewRequest(http.MethodPost, w.resource, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+a.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(out), `"code":-32700`) {
			t.Errorf("%s: %d %s, want 400 with a JSON-RPC parse error", body, resp.StatusCode, out)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) != 0 {
		t.Fatalf("%d undecodable requests reached the upstream", len(w.seen))
	}
}
