package mcpauth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/mcpauth"
	"github.com/kavachos/kavach-go/oidc"
)

// world is Kavach with its authorization server, and an MCP-like JSON-RPC server behind a
// Guard that authorizes through the HTTP client with an app key.
type world struct {
	as        *oauthtest.Server
	mcp       *httptest.Server
	resource  string
	seen      chan *http.Request
	clientID  string
	authorize string
	token     string
}

func newWorld(t *testing.T, b testserver.Backend, configure func(*mcpauth.Config)) *world {
	t.Helper()
	return newWorldWith(t, b, nil, configure)
}

// newWorldWith is newWorld with a say over the authorization server's configuration too.
func newWorldWith(t *testing.T, b testserver.Backend, configureAS func(*oidc.Config), configure func(*mcpauth.Config)) *world {
	t.Helper()
	w := &world{seen: make(chan *http.Request, 16)}
	w.mcp = httptest.NewUnstartedServer(nil)
	w.resource = "http://" + w.mcp.Listener.Addr().String() + "/mcp"
	asCfg := oidc.Config{
		Login:     oidc.LoginConfig{DevLogin: true, DevAutoApprove: true},
		Resources: map[string]string{w.resource: "files", "https://other.example.com/mcp": "other"},
	}
	if configureAS != nil {
		configureAS(&asCfg)
	}
	w.as = oauthtest.Start(t, b.New(t), asCfg)
	app := w.as.Client(t, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant})
	cfg := mcpauth.Config{Resource: w.resource, Server: "files", Issuer: w.as.Issuer, Authorizer: app, ResourceName: "Files"}
	if configure != nil {
		configure(&cfg)
	}
	g, err := mcpauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Mount(mux, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.seen <- r
		var m struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{"ok": true}})
	}))
	w.mcp.Config.Handler = mux
	w.mcp.Start()
	t.Cleanup(w.mcp.Close)

	var meta map[string]any
	oauthtest.GetJSON(t, w.as.URL+"/.well-known/oauth-authorization-server/oauth", &meta)
	w.authorize, w.token = meta["authorization_endpoint"].(string), meta["token_endpoint"].(string)
	var reg map[string]any
	oauthtest.PostJSON(t, meta["registration_endpoint"].(string), "", map[string]any{
		"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "token_endpoint_auth_method": "none", "client_name": "tester",
	}, &reg)
	w.clientID = reg["client_id"].(string)
	return w
}

// accessToken runs the OAuth flow for resource and scope and returns the access token.
func (w *world) accessToken(t *testing.T, resource, scope string) string {
	t.Helper()
	pk := oauthtest.NewPKCE()
	resp := oauthtest.Authorize(t, w.authorize, url.Values{
		"response_type": {"code"}, "client_id": {w.clientID}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "scope": {scope},
		"code_challenge": {pk.Challenge}, "code_challenge_method": {"S256"}, "resource": {resource}, "state": {"s"},
	})
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	var tok map[string]any
	oauthtest.PostForm(t, w.token, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {"http://127.0.0.1:9/cb"}, "code_verifier": {pk.Verifier}, "client_id": {w.clientID}, "resource": {resource}}, "", "", &tok)
	at, _ := tok["access_token"].(string)
	if at == "" {
		t.Fatalf("no access token: %v", tok)
	}
	return at
}

// call posts a JSON-RPC body with the token.
func (w *world) call(t *testing.T, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.resource, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func toolCall(name string, args map[string]any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}})
	return string(b)
}

// TestChallengesAndMetadata: an unauthenticated request is 401 with a WWW-Authenticate
// challenge pointing at RFC 9728 metadata, which names the authorization server.
func TestChallengesAndMetadata(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testserver.Backends[0], nil)
	resp, _ := w.call(t, "", toolCall("read", nil))
	challenge := resp.Header.Get("WWW-Authenticate")
	metaURL := strings.TrimSuffix(w.resource, "/mcp") + "/.well-known/oauth-protected-resource/mcp"
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer ") ||
		!strings.Contains(challenge, `resource_metadata="`+metaURL+`"`) || !strings.Contains(challenge, `scope="mcp"`) {
		t.Fatalf("401 challenge: %d %q", resp.StatusCode, challenge)
	}
	for _, u := range []string{metaURL, strings.TrimSuffix(w.resource, "/mcp") + "/.well-known/oauth-protected-resource"} {
		var meta mcpauth.Metadata
		if code := oauthtest.GetJSON(t, u, &meta); code != http.StatusOK || meta.Resource != w.resource ||
			len(meta.AuthorizationServers) != 1 || meta.AuthorizationServers[0] != w.as.Issuer {
			t.Fatalf("metadata at %s: %d %+v", u, code, meta)
		}
	}
}

// TestTokenRefusals: every token that is not a valid Kavach token for this server is 401
// invalid_token; a valid token without the scope is 403 insufficient_scope.
func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	late := time.Now().Add(time.Hour)
	w := newWorld(t, testserver.Backends[0], nil)
	expired := newWorld(t, testserver.Backends[0], func(c *mcpauth.Config) { c.Now = func() time.Time { return late } })
	good := w.accessToken(t, w.resource, "mcp")
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + enc([]byte(strings.Replace(string(payload), `"dev-user"`, `"admin"`, 1))) + "." + parts[2]
	none := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	mac := hmac.New(sha256.New, []byte("guessable"))
	hsHead := enc([]byte(`{"alg":"HS256","typ":"JWT"}`))
	mac.Write([]byte(hsHead + "." + parts[1]))
	hs256 := hsHead + "." + parts[1] + "." + enc(mac.Sum(nil))
	for _, tc := range []struct {
		name, token string
		w           *world
		status      int
		error       string
	}{
		{"another resource", w.accessToken(t, "https://other.example.com/mcp", "mcp"), w, 401, "invalid_token"},
		{"tampered payload", tampered, w, 401, "invalid_token"},
		{"alg none", none, w, 401, "invalid_token"},
		{"HS256", hs256, w, 401, "invalid_token"},
		{"garbage", "not-a-jwt", w, 401, "invalid_token"},
		{"agent token", agent.MintToken(), w, 401, "invalid_token"},
		{"expired", expired.accessToken(t, expired.resource, "mcp"), expired, 401, "invalid_token"},
		{"another issuer", good, expired, 401, "invalid_token"},
		{"missing scope", w.accessToken(t, w.resource, "openid"), w, 403, "insufficient_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.w.call(t, tc.token, toolCall("read", nil))
			challenge := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != tc.status || !strings.Contains(challenge, `error="`+tc.error+`"`) || !strings.Contains(challenge, "resource_metadata=") {
				t.Fatalf("got %d %q %s; want %d %s", resp.StatusCode, challenge, body, tc.status, tc.error)
			}
		})
	}
	if len(w.seen) != 0 || len(expired.seen) != 0 {
		t.Fatal("no refused request may reach the MCP server")
	}
}

// TestToolCallsAreAuthorized: tools/call goes through Kavach with the tool as the resource
// and the arguments; a denial is a JSON-RPC error with the decision code, not an HTTP error;
// the MCP server never sees the token; every decision is audited.
func TestToolCallsAreAuthorized(t *testing.T) {
	t.Parallel()
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		w := newWorld(t, b, nil)
		token := w.accessToken(t, w.resource, "mcp")
		resp, body := w.call(t, token, toolCall("read", map[string]any{"path": "/etc/motd"}))
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok":true`) {
			t.Fatalf("allowed call: %d %s", resp.StatusCode, body)
		}
		r := <-w.seen
		if r.Header.Get("Authorization") != "" {
			t.Fatal("the token must not reach the MCP server")
		}
		c, ok := mcpauth.ClaimsFrom(r.Context())
		if !ok || c.Subject != "dev-user" || c.AgentID == "" {
			t.Fatalf("claims in the context: %+v", c)
		}

		root := kavach.WithActor(context.Background(), api.Root)
		perms := []agent.Permission{{Resource: "mcp:files:read", Actions: []string{"call"},
			Constraints: &agent.Constraints{ArgumentPatterns: map[string]string{"path": "/public/.*"}}},
			{Resource: "mcp:files:delete", Actions: []string{"call"}, Constraints: &agent.Constraints{Approval: &agent.Approval{Required: true}}}}
		if _, err := w.as.Kavach.Agents().Update(root, c.AgentID, api.UpdateAgentRequest{Permissions: &perms}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			tool     string
			args     map[string]any
			code     api.DecisionCode
			approval bool
		}{
			{"read", map[string]any{"path": "/etc/passwd"}, api.ArgumentNotAllowed, false},
			{"write", nil, api.NoPermission, false},
			{"delete", map[string]any{"path": "/public/a"}, api.ApprovalRequired, true},
		} {
			resp, body := w.call(t, token, toolCall(tc.tool, tc.args))
			var out struct {
				ID    int
				Error struct {
					Code int
					Data mcpauth.DeniedData
				}
			}
			if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK || out.ID != 7 ||
				out.Error.Code != mcpauth.DeniedCode || out.Error.Data.Code != tc.code || (out.Error.Data.ApprovalID != "") != tc.approval ||
				out.Error.Data.AuditID == "" {
				t.Fatalf("%s: %d %s; want a JSON-RPC denial %s", tc.tool, resp.StatusCode, body, tc.code)
			}
		}
		if resp, body := w.call(t, token, toolCall("read", map[string]any{"path": "/public/x"})); resp.StatusCode != http.StatusOK || strings.Contains(string(body), "error") {
			t.Fatalf("narrowed but allowed call: %d %s", resp.StatusCode, body)
		}
		batch := "[" + toolCall("read", map[string]any{"path": "/public/x"}) + "," + strings.Replace(toolCall("write", nil), `"id":7`, `"id":8`, 1) + "]"
		if _, body := w.call(t, token, batch); !strings.Contains(string(body), "NO_PERMISSION") || strings.Contains(string(body), `"ok"`) {
			t.Fatalf("a batch with a denied call is refused whole: %s", body)
		}
		if len(w.seen) != 1 {
			t.Fatalf("%d denied requests reached the MCP server", len(w.seen)-1)
		}
		page, err := w.as.Kavach.Audit().Query(root, api.AuditQuery{AgentID: c.AgentID, Order: "asc"})
		if err != nil {
			t.Fatal(err)
		}
		var decisions []string
		for _, e := range page.Events {
			if e.Kind == "decision" {
				decisions = append(decisions, e.Resource+"="+e.Code)
			}
		}
		want := "mcp:files:read=ALLOWED mcp:files:read=ARGUMENT_NOT_ALLOWED mcp:files:write=NO_PERMISSION " +
			"mcp:files:delete=APPROVAL_REQUIRED mcp:files:read=ALLOWED mcp:files:read=ALLOWED mcp:files:write=NO_PERMISSION"
		if got := strings.Join(decisions, " "); got != want {
			t.Fatalf("audited decisions:\n got  %s\n want %s", got, want)
		}
	})
}

// TestVerifyAccessToken: other adapters accept exactly the tokens Wrap accepts.
func TestVerifyAccessToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testserver.Backends[0], nil)
	g, err := mcpauth.New(mcpauth.Config{Resource: w.resource, Server: "files", Issuer: w.as.Issuer, Authorizer: w.as.Kavach})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if id, err := g.VerifyAccessToken(ctx, w.accessToken(t, w.resource, "mcp")); err != nil || id == "" {
		t.Fatalf("a valid token: %q, %v", id, err)
	}
	for name, token := range map[string]string{
		"missing scope":    w.accessToken(t, w.resource, "openid"),
		"another resource": w.accessToken(t, "https://other.example.com/mcp", "mcp"),
		"agent token":      agent.MintToken(),
	} {
		if id, err := g.VerifyAccessToken(ctx, token); err == nil {
			t.Errorf("%s: accepted for agent %q", name, id)
		}
	}
}

// TestUndecodableBodiesAreRefused: a POST the guard cannot read as JSON-RPC — a tool name
// that is not a string, arguments that are not an object, a batch with a member that is not
// a message, or no JSON at all — is refused, never forwarded unjudged: a server that reads
// it differently must not run a call that Kavach did not authorize.
func TestUndecodableBodiesAreRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testserver.Backends[0], nil)
	token := w.accessToken(t, w.resource, "mcp")
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["delete"]}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"delete"}`,
		`[1,{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete"}}]`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete"}`,
		`not json`,
		``,
	} {
		resp, out := w.call(t, token, body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(out), `"code":-32700`) {
			t.Errorf("%s: %d %s, want 400 with a JSON-RPC parse error", body, resp.StatusCode, out)
		}
	}
	if len(w.seen) != 0 {
		t.Fatalf("%d undecodable requests reached the MCP server", len(w.seen))
	}
}

// TestAgentTokensOverHTTP: with Config.Agents (here the HTTP client with an app key), a kv_
// token is checked by Kavach: a real one passes, and one Kavach refuses as input — longer
// than any token — is a 401 like any other bad token, not a 503 as if Kavach were down.
func TestAgentTokensOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testserver.Backends[0], func(c *mcpauth.Config) {
		c.Agents = c.Authorizer.(api.Kavach).Agents()
	})
	a, err := w.as.Kavach.Agents().Create(kavach.WithActor(context.Background(), api.Root), api.CreateAgentRequest{
		OwnerID: "o", Name: "reader", Permissions: []agent.Permission{{Resource: "mcp:files:read", Actions: []string{"call"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := w.call(t, a.Token, toolCall("read", nil)); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok":true`) {
		t.Fatalf("an agent token: %d %s", resp.StatusCode, body)
	}
	for _, token := range []string{"kv_" + strings.Repeat("A", 43), "kv_" + strings.Repeat("A", 400)} {
		resp, body := w.call(t, token, toolCall("read", nil))
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("token of %d bytes: %d %s %q, want 401 invalid_token", len(token), resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	}
}
