package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/mcpauth"
	"github.com/kavachos/kavach-go/oidc"
)

// deployment is Kavach (API and authorization server) and the example MCP server, which
// authorizes tool calls over Kavach's HTTP API with an app key.
type deployment struct {
	as       *oauthtest.Server
	resource string
}

func deploy(t *testing.T, database string, configure func(*oidc.Config)) *deployment {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{resource: resourceURL(ln.Addr().String())}
	cfg := oidc.Config{
		Login:     oidc.LoginConfig{DevLogin: true, DevAutoApprove: true},
		Resources: map[string]string{d.resource: ServerName},
	}
	if configure != nil {
		configure(&cfg)
	}
	d.as = oauthtest.Start(t, database, cfg)
	g, err := mcpauth.New(mcpauth.Config{
		Resource: d.resource, Server: ServerName, Issuer: d.as.Issuer,
		Authorizer: d.as.Client(t, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{}
	s.serve(ln, Handler(g))
	t.Cleanup(s.close)
	return d
}

// bearer sends a fixed access token with every request, as an MCP client does.
type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

var resourceMetadata = regexp.MustCompile(`resource_metadata="([^"]+)"`)

// TestEndToEndWithDynamicRegistration follows the MCP authorization flow hop by hop, on both
// stores: a 401 from the MCP server, its RFC 9728 metadata, the authorization server's RFC
// 8414 metadata, dynamic registration, authorization with PKCE S256 and the resource, the
// headless dev login, the code with iss, the token; then tools/list and tools/call through
// the Go MCP SDK, allowed or denied by the agent's permissions, and audited.
func TestEndToEndWithDynamicRegistration(t *testing.T) {
	t.Parallel()
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		d := deploy(t, b.New(t), nil)

		resp, err := http.Post(d.resource, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		m := resourceMetadata.FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
		if resp.StatusCode != http.StatusUnauthorized || m == nil {
			t.Fatalf("unauthenticated MCP request: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}

		var prm mcpauth.Metadata
		if code := oauthtest.GetJSON(t, m[1], &prm); code != http.StatusOK || prm.Resource != d.resource || len(prm.AuthorizationServers) != 1 {
			t.Fatalf("protected resource metadata: %d %+v", code, prm)
		}
		issuer := prm.AuthorizationServers[0]
		iu, _ := url.Parse(issuer)
		var as map[string]any
		if code := oauthtest.GetJSON(t, iu.Scheme+"://"+iu.Host+"/.well-known/oauth-authorization-server"+iu.Path, &as); code != http.StatusOK ||
			as["issuer"] != issuer || !slices.Equal(as["code_challenge_methods_supported"].([]any), []any{"S256"}) {
			t.Fatalf("authorization server metadata: %d %v", code, as)
		}

		redirect := "http://127.0.0.1:33418/callback"
		var reg map[string]any
		if code := oauthtest.PostJSON(t, as["registration_endpoint"].(string), "", map[string]any{
			"client_name": "e2e client", "redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none",
			"grant_types": []string{"authorization_code", "refresh_token"},
		}, &reg); code != http.StatusCreated {
			t.Fatalf("registration: %d %v", code, reg)
		}
		clientID := reg["client_id"].(string)

		pk := oauthtest.NewPKCE()
		resp = oauthtest.Authorize(t, as["authorization_endpoint"].(string), url.Values{
			"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {strings.Join(prm.ScopesSupported, " ")},
			"state": {"e2e-state"}, "code_challenge": {pk.Challenge}, "code_challenge_method": {"S256"}, "resource": {d.resource},
		})
		loc, err := resp.Location()
		if err != nil || !strings.HasPrefix(loc.String(), redirect) {
			t.Fatalf("authorization: %d %v", resp.StatusCode, loc)
		}
		q := loc.Query()
		if q.Get("iss") != issuer || q.Get("state") != "e2e-state" || q.Get("code") == "" {
			t.Fatalf("authorization response %v", q)
		}

		var tok map[string]any
		oauthtest.PostForm(t, as["token_endpoint"].(string), url.Values{
			"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirect}, "client_id": {clientID},
			"code_verifier": {pk.Verifier}, "resource": {d.resource},
		}, "", "", &tok)
		token, _ := tok["access_token"].(string)
		if token == "" {
			t.Fatalf("token: %v", tok)
		}

		ctx := context.Background()
		session, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: d.resource, HTTPClient: &http.Client{Transport: bearer(token)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer session.Close()
		tools, err := session.ListTools(ctx, nil)
		if err != nil || len(tools.Tools) != 3 {
			t.Fatalf("tools/list: %+v, %v", tools, err)
		}
		if got := callText(t, session, "add", map[string]any{"a": 2, "b": 3}); got != "5" {
			t.Fatalf("add: %q", got)
		}

		// The consent made a delegated agent; narrowing it is enforced at the next call.
		agentID := agentOf(t, d, "dev-user")
		root := kavach.WithActor(ctx, api.Root)
		only := []agent.Permission{{Resource: "mcp:example:echo", Actions: []string{"call"}}}
		if _, err := d.as.Kavach.Agents().Update(root, agentID, api.UpdateAgentRequest{Permissions: &only}); err != nil {
			t.Fatal(err)
		}
		if got := callText(t, session, "echo", map[string]any{"text": "hi"}); got != "hi" {
			t.Fatalf("echo: %q", got)
		}
		_, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "delete_file", Arguments: map[string]any{"path": "/etc"}})
		var rpcErr *jsonrpc.Error
		var data mcpauth.DeniedData
		if !errors.As(err, &rpcErr) || rpcErr.Code != mcpauth.DeniedCode || json.Unmarshal(rpcErr.Data, &data) != nil || data.Code != api.NoPermission {
			t.Fatalf("delete_file after narrowing: %v, want a JSON-RPC denial NO_PERMISSION", err)
		}

		page, err := d.as.Kavach.Audit().Query(root, api.AuditQuery{AgentID: agentID, Order: "asc"})
		if err != nil {
			t.Fatal(err)
		}
		var decisions []string
		for _, e := range page.Events {
			if e.Kind == "decision" {
				decisions = append(decisions, e.Resource+"="+e.Code)
			}
		}
		if want := []string{"mcp:example:add=ALLOWED", "mcp:example:echo=ALLOWED", "mcp:example:delete_file=NO_PERMISSION"}; !slices.Equal(decisions, want) {
			t.Fatalf("audited decisions %v, want %v", decisions, want)
		}
	})
}

func callText(t *testing.T, s *mcp.ClientSession, tool string, args map[string]any) string {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil || res.IsError || len(res.Content) != 1 {
		t.Fatalf("tools/call %s: %+v, %v", tool, res, err)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

// agentOf returns the one delegated agent an owner has.
func agentOf(t *testing.T, d *deployment, owner string) string {
	t.Helper()
	list, err := d.as.Kavach.Agents().List(kavach.WithActor(context.Background(), api.Root), api.ListAgentsRequest{OwnerID: owner})
	if err != nil || len(list.Agents) != 1 || list.Agents[0].Type != agent.TypeDelegated {
		t.Fatalf("agents of %s: %+v, %v", owner, list, err)
	}
	return list.Agents[0].ID
}
