package oidc_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/tokenexchange"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/mcpauth"
	"github.com/kavachos/kavach-go/oidc"
)

const (
	grantExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	typeAccess    = "urn:ietf:params:oauth:token-type:access_token"
	typeAgent     = "urn:kavach:params:oauth:token-type:agent-token"
)

// xworld is Kavach with its authorization server, an MCP-like server named "files" behind
// mcpauth, a public client for the code flow and a confidential client that exchanges
// tokens.
type xworld struct {
	*env
	resource string
	root     context.Context
	public   registration
	client   registration
}

func newXWorld(t *testing.T, b testserver.Backend, configure func(*oidc.Config)) *xworld {
	t.Helper()
	mcp := httptest.NewUnstartedServer(nil)
	w := &xworld{resource: "http://" + mcp.Listener.Addr().String() + "/mcp", root: kavach.WithActor(context.Background(), api.Root)}
	cfg := devConfig()
	cfg.Resources = map[string]string{w.resource: "files", resourceB: "beta"}
	srv := oauthtest.StartConfigured(t, b.New(t), cfg, configure)
	w.env = &env{Server: srv}
	if code := oauthtest.GetJSON(t, srv.URL+"/.well-known/oauth-authorization-server/oauth", &w.meta); code != http.StatusOK {
		t.Fatalf("metadata: %d", code)
	}
	g, err := mcpauth.New(mcpauth.Config{Resource: w.resource, Server: "files", Issuer: srv.Issuer,
		Authorizer: srv.Client(t, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant})})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Mount(mux, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"jsonrpc":"2.0","id":7,"result":{"ok":true}}`)
	}))
	mcp.Config.Handler = mux
	mcp.Start()
	t.Cleanup(mcp.Close)
	w.public = w.register(t, nil)
	w.client = w.register(t, map[string]any{"grant_types": []string{grantExchange}, "redirect_uris": []string{},
		"token_endpoint_auth_method": "client_secret_basic"})
	return w
}

// codeToken runs the authorization code flow for the files server as dev-user, whose
// consent makes an agent holding mcp:files:* call.
func (w *xworld) codeToken(t *testing.T) string {
	t.Helper()
	pk := oauthtest.NewPKCE()
	params := authParams(w.public.ID, pk)
	params.Set("resource", w.resource)
	form := exchange(w.code(t, params), pk)
	form.Set("resource", w.resource)
	status, tok := w.token(t, w.public, form)
	if status != http.StatusOK {
		t.Fatalf("code flow: %d %v", status, tok)
	}
	return tok["access_token"].(string)
}

// agent creates an agent of owner holding perms and returns its id and token.
func (w *xworld) agent(t *testing.T, owner string, perms ...agent.Permission) (string, string) {
	t.Helper()
	a, err := w.Kavach.Agents().Create(w.root, api.CreateAgentRequest{OwnerID: owner, Name: "worker", Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID, a.Token
}

// exchange posts a token exchange as the exchanging client.
func (w *xworld) exchange(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("grant_type", grantExchange)
	return w.token(t, w.client, form)
}

// mustExchange exchanges and returns the issued access token.
func (w *xworld) mustExchange(t *testing.T, form url.Values) string {
	t.Helper()
	status, out := w.exchange(t, form)
	if status != http.StatusOK || out["issued_token_type"] != typeAccess || out["token_type"] != "Bearer" {
		t.Fatalf("exchange: %d %v", status, out)
	}
	return out["access_token"].(string)
}

// introspect asks about a token as the confidential client.
func (w *xworld) introspect(t *testing.T, token string) map[string]any {
	t.Helper()
	var out map[string]any
	oauthtest.PostForm(t, w.endpoint("introspection_endpoint"), url.Values{"token": {token}}, w.client.ID, w.client.Secret, &out)
	return out
}

// callTool calls a tool of the files server and returns the denial's code, "" if allowed.
func (w *xworld) callTool(t *testing.T, token, tool string) api.DecisionCode {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
	req, _ := http.NewRequest(http.MethodPost, w.resource, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result any
		Error  struct {
			Code int
			Data mcpauth.DeniedData
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tool call: %d %v", resp.StatusCode, err)
	}
	if out.Result != nil {
		return ""
	}
	if out.Error.Code != mcpauth.DeniedCode {
		t.Fatalf("tool call: not a denial: %+v", out.Error)
	}
	return out.Error.Data.Code
}

// exchangeEvents returns the token.exchange events of the default tenant, oldest first.
func (w *xworld) exchangeEvents(t *testing.T) []agent.AuditEvent {
	t.Helper()
	page, err := w.Kavach.Audit().Query(w.root, api.AuditQuery{Action: oidc.ActionTokenExchange, Order: "asc"})
	if err != nil {
		t.Fatal(err)
	}
	return page.Events
}

// actChain lists the subjects of a token's act claim, outermost first.
func actChain(c map[string]any) []string {
	var out []string
	for act, _ := c["act"].(map[string]any); act != nil; act, _ = act["act"].(map[string]any) {
		out = append(out, act["sub"].(string))
	}
	return out
}

// TestTokenExchangeChain: three exchanges, made with zitadel's token exchange client, give
// a three-deep act; a fourth passes the depth limit. Revoking the middle delegation makes
// the leaf token's tool calls denied by Kavach at mcpauth and its introspection inactive,
// at once. Every exchange is a token.exchange event naming its chain.
func TestTokenExchangeChain(t *testing.T) {
	t.Parallel()
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		w := newXWorld(t, b, nil)
		if g := w.meta["grant_types_supported"].([]any); !slices.Contains(g, any(grantExchange)) {
			t.Fatalf("grant_types_supported %v lacks token exchange", g)
		}
		te, err := tokenexchange.NewTokenExchangerClientCredentials(t.Context(), w.Issuer, w.client.ID, w.client.Secret)
		if err != nil {
			t.Fatal(err)
		}
		root := w.codeToken(t)
		s := claims(t, root)["agent_id"].(string)
		agents, tokens := []string{s}, []string{root}
		for range 3 {
			id, kv := w.agent(t, "dev-user")
			resp, err := tokenexchange.ExchangeToken(t.Context(), te, tokens[len(tokens)-1], typeAccess, kv, typeAgent,
				[]string{w.resource}, nil, []string{"mcp"}, typeAccess)
			if err != nil {
				t.Fatalf("exchange %d: %v", len(tokens), err)
			}
			if resp.IssuedTokenType != typeAccess || resp.TokenType != "Bearer" || resp.ExpiresIn == 0 || resp.RefreshToken != "" {
				t.Fatalf("exchange response %+v", resp)
			}
			agents, tokens = append(agents, id), append(tokens, resp.AccessToken)
		}
		leaf := claims(t, tokens[3])
		if leaf["sub"] != agents[3] || leaf["agent_id"] != agents[3] || leaf["scope"] != "mcp" || leaf["aud"].([]any)[0] != w.resource {
			t.Fatalf("leaf token claims %v", leaf)
		}
		if got, want := actChain(leaf), []string{agents[2], agents[1], agents[0]}; !slices.Equal(got, want) {
			t.Fatalf("leaf act chain %v, want %v (most recent first)", got, want)
		}
		if code := w.callTool(t, tokens[3], "read"); code != "" {
			t.Fatalf("the leaf token's tool call: denied %s", code)
		}

		_, kv := w.agent(t, "dev-user")
		status, out := w.exchange(t, url.Values{"subject_token": {tokens[3]}, "subject_token_type": {typeAccess},
			"actor_token": {kv}, "actor_token_type": {typeAgent}})
		wantOAuthError(t, "a fourth link", status, out, http.StatusBadRequest, "invalid_request")
		if !strings.Contains(out["error_description"].(string), "depth") {
			t.Fatalf("a fourth link is refused for its depth: %v", out)
		}

		events := w.exchangeEvents(t)
		if len(events) != 3 {
			t.Fatalf("%d token.exchange events, want 3", len(events))
		}
		e := events[2]
		chain, _ := json.Marshal(e.Arguments["chain"])
		want, _ := json.Marshal(agents)
		if e.AgentID != agents[3] || e.Actor != "oauth-client:"+w.client.ID || string(chain) != string(want) || len(e.Via) != 3 ||
			e.Arguments["delegation"] != "created" || e.Resource != leaf["jti"] {
			t.Fatalf("exchange event %+v: want agent %s, chain %s, three delegations", e, agents[3], want)
		}

		// Revoking the middle link ends the leaf token's rights.
		if _, err := w.Kavach.Delegations().Revoke(w.root, e.Via[1]); err != nil {
			t.Fatal(err)
		}
		if code := w.callTool(t, tokens[3], "read"); code != api.NoPermission {
			t.Fatalf("after the revocation the leaf token's tool call: %q, want NO_PERMISSION", code)
		}
		for i, want := range []bool{true, true, false, false} {
			if in := w.introspect(t, tokens[i]); in["active"] != want {
				t.Fatalf("token %d after revoking the second link: %v, want active %v", i, in, want)
			}
		}
		status, out = w.exchange(t, url.Values{"subject_token": {tokens[3]}, "subject_token_type": {typeAccess}})
		wantOAuthError(t, "exchanging a token below a revoked link", status, out, http.StatusBadRequest, "invalid_request")
	})
}

// TestTokenExchangeSubset: what is asked for must lie within the subject's scope, audience
// and grants.
func TestTokenExchangeSubset(t *testing.T) {
	t.Parallel()
	w := newXWorld(t, testserver.Backends[0], nil)
	root := w.codeToken(t)
	_, kv := w.agent(t, "dev-user")
	_, narrow := w.agent(t, "dev-user", agent.Permission{Resource: "mcp:files:read", Actions: []string{"call"}})
	details := func(resource string) string {
		return `[{"type":"kavach_permission","resource":"` + resource + `","actions":["call"]}]`
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		error  string
	}{
		{"wider scope", url.Values{"scope": {"mcp openid"}}, 400, "invalid_scope"},
		{"another resource", url.Values{"resource": {resourceB}}, 400, "invalid_target"},
		{"an audience not served", url.Values{"audience": {"https://elsewhere.example.com/mcp"}}, 400, "invalid_target"},
		{"a permission outside the scope's", url.Values{"authorization_details": {details("mcp:beta:read")}}, 400, "invalid_scope"},
		{"a permission the agent does not hold", url.Values{"subject_token": {narrow}, "subject_token_type": {typeAgent},
			"resource": {w.resource}, "authorization_details": {details("mcp:files:*")}}, 400, "invalid_scope"},
		{"an agent token without a resource", url.Values{"subject_token": {narrow}, "subject_token_type": {typeAgent}}, 400, "invalid_target"},
		{"a detail of another type", url.Values{"authorization_details": {`[{"type":"payment","resource":"x","actions":["a"]}]`}}, 400, "invalid_authorization_details"},
		{"a detail with unknown fields", url.Values{"authorization_details": {`[{"type":"kavach_permission","resource":"mcp:files:read","actions":["call"],"locations":["x"]}]`}}, 400, "invalid_authorization_details"},
		{"details that are not JSON", url.Values{"authorization_details": {"read everything"}}, 400, "invalid_authorization_details"},
		{"a refresh token as subject", url.Values{"subject_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}}, 400, "invalid_request"},
		{"an ID token asked for", url.Values{"requested_token_type": {"urn:ietf:params:oauth:token-type:id_token"}}, 400, "invalid_request"},
		{"an actor token without its type", url.Values{"actor_token": {kv}}, 400, "invalid_request"},
		{"a garbage subject token", url.Values{"subject_token": {"a.b.c"}}, 400, "invalid_request"},
	} {
		form := url.Values{"subject_token": {root}, "subject_token_type": {typeAccess}, "actor_token": {kv}, "actor_token_type": {typeAgent}}
		for k, v := range tc.form {
			form[k] = v
		}
		if tc.name == "an actor token without its type" {
			form.Del("actor_token_type")
		}
		status, out := w.exchange(t, form)
		wantOAuthError(t, tc.name, status, out, tc.status, tc.error)
	}
	// A client that did not register the grant may not use it.
	status, out := w.token(t, w.public, url.Values{"grant_type": {grantExchange}, "subject_token": {root}, "subject_token_type": {typeAccess}})
	wantOAuthError(t, "a client without the grant", status, out, http.StatusBadRequest, "unauthorized_client")
	if n := len(w.exchangeEvents(t)); n != 0 {
		t.Fatalf("refused exchanges wrote %d events", n)
	}

	// Within the subject's rights: one tool, narrower than the consent's mcp:files:*.
	tok := w.mustExchange(t, url.Values{"subject_token": {root}, "subject_token_type": {typeAccess},
		"actor_token": {kv}, "actor_token_type": {typeAgent}, "authorization_details": {details("mcp:files:read")}})
	if code := w.callTool(t, tok, "read"); code != "" {
		t.Fatalf("the delegated tool: denied %s", code)
	}
	if code := w.callTool(t, tok, "write"); code != api.NoPermission {
		t.Fatalf("a tool not delegated: %q, want NO_PERMISSION", code)
	}
}

// TestTokenExchangeAgentToken: an agent's kv_ token is a subject; without an actor_token
// the exchange makes a delegated agent of the same owner that expires with the token.
func TestTokenExchangeAgentToken(t *testing.T) {
	t.Parallel()
	w := newXWorld(t, testserver.Backends[0], nil)
	parent, kv := w.agent(t, "alice", agent.Permission{Resource: "mcp:files:*", Actions: []string{"call"},
		Constraints: &agent.Constraints{ArgumentPatterns: map[string]string{"path": "/public/.*"}}})
	tok := w.mustExchange(t, url.Values{"subject_token": {kv}, "subject_token_type": {typeAgent}, "resource": {w.resource}})
	c := claims(t, tok)
	child := c["agent_id"].(string)
	if c["sub"] != child || child == parent || !slices.Equal(actChain(c), []string{parent}) || c["scope"] != "mcp" {
		t.Fatalf("claims %v: want a new agent acting for %s", c, parent)
	}
	a, err := w.Kavach.Agents().Get(w.root, child)
	if err != nil || a.OwnerID != "alice" || a.Type != agent.TypeDelegated || a.ExpiresAt == nil ||
		a.ExpiresAt.Unix() != int64(c["exp"].(float64)) {
		t.Fatalf("the exchange's agent %+v, %v: want alice's, delegated, expiring with the token", a, err)
	}
	// The parent's constraint is carried: the path must match.
	if code := w.callTool(t, tok, "read"); code != api.ArgumentNotAllowed {
		t.Fatalf("a call without the path the parent's grant requires: %q, want ARGUMENT_NOT_ALLOWED", code)
	}
	// Revoking the parent ends the child's rights.
	if _, err := w.Kavach.Agents().Revoke(w.root, parent); err != nil {
		t.Fatal(err)
	}
	if in := w.introspect(t, tok); in["active"] != false {
		t.Fatalf("introspection after revoking the parent: %v", in)
	}
}

// TestTokenExchangeExpiry: the token never outlives the subject token; an identical
// exchange within that bound reuses the delegation.
func TestTokenExchangeExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	w := newXWorld(t, testserver.Backends[0], func(c *oidc.Config) { c.Now = clk.Now })
	root := w.codeToken(t)
	rootExp := claims(t, root)["exp"].(float64)
	clk.Advance(4 * time.Minute)
	_, kv := w.agent(t, "dev-user")
	form := url.Values{"subject_token": {root}, "subject_token_type": {typeAccess}, "actor_token": {kv}, "actor_token_type": {typeAgent}}
	var exps []float64
	for range 2 {
		status, out := w.exchange(t, url.Values(form))
		if status != http.StatusOK {
			t.Fatalf("exchange: %d %v", status, out)
		}
		exp := claims(t, out["access_token"].(string))["exp"].(float64)
		if in := out["expires_in"].(float64); exp != rootExp || in > 360 || in < 355 {
			t.Fatalf("exp %v, expires_in %v: want the subject token's exp %v, about 6 minutes away", exp, in, rootExp)
		}
		exps = append(exps, exp)
	}
	events := w.exchangeEvents(t)
	if len(events) != 2 || events[0].Arguments["delegation"] != "created" || events[1].Arguments["delegation"] != "reused" ||
		events[0].Arguments["delegationId"] != events[1].Arguments["delegationId"] {
		t.Fatalf("events %+v: want the second exchange to reuse the first's delegation", events)
	}
	d, err := w.Kavach.Delegations().Get(w.root, events[0].Arguments["delegationId"].(string))
	if err != nil || d.ExpiresAt == nil || d.ExpiresAt.Unix() != int64(rootExp) {
		t.Fatalf("delegation %+v, %v: want it to end with the token", d, err)
	}
}

// TestTokenExchangeActors: the actor must be an agent of the subject's tenant and owner,
// and the one may_act names.
func TestTokenExchangeActors(t *testing.T) {
	t.Parallel()
	w := newXWorld(t, testserver.Backends[0], nil)
	if _, err := w.Kavach.Tenants().Create(w.root, api.CreateTenantRequest{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	other, err := w.Kavach.Agents().Create(w.root, api.CreateAgentRequest{TenantID: "acme", OwnerID: "dev-user", Name: "elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	perm := agent.Permission{Resource: "mcp:files:*", Actions: []string{"call"}}
	_, parent := w.agent(t, "dev-user", perm)
	_, bob := w.agent(t, "bob")
	first, firstKV := w.agent(t, "dev-user")
	allowed, allowedKV := w.agent(t, "dev-user")
	_, strangerKV := w.agent(t, "dev-user")
	meta := map[string]string{oidc.MetadataMayAct: allowed}
	if _, err := w.Kavach.Agents().Update(w.root, first, api.UpdateAgentRequest{Metadata: &meta}); err != nil {
		t.Fatal(err)
	}
	as := func(subject, subjectType, actor string) url.Values {
		v := url.Values{"subject_token": {subject}, "subject_token_type": {subjectType}, "resource": {w.resource}}
		if actor != "" {
			v.Set("actor_token", actor)
			v.Set("actor_token_type", typeAgent)
		}
		return v
	}
	for name, form := range map[string]url.Values{
		"an actor of another tenant": as(parent, typeAgent, other.Token),
		"an actor of another owner":  as(parent, typeAgent, bob),
		"the subject itself":         as(parent, typeAgent, parent),
	} {
		status, out := w.exchange(t, form)
		wantOAuthError(t, name, status, out, http.StatusBadRequest, "invalid_request")
	}

	// first says only allowed may act for it: its tokens carry may_act, which is held to.
	tok := w.mustExchange(t, as(parent, typeAgent, firstKV))
	if c := claims(t, tok); c["may_act"].(map[string]any)["sub"] != allowed {
		t.Fatalf("claims %v: want may_act naming %s", c, allowed)
	}
	for name, form := range map[string]url.Values{
		"an actor may_act does not name":   as(tok, typeAccess, strangerKV),
		"no actor despite may_act":         as(tok, typeAccess, ""),
		"first's own token, another actor": as(firstKV, typeAgent, strangerKV),
	} {
		status, out := w.exchange(t, form)
		wantOAuthError(t, name, status, out, http.StatusBadRequest, "invalid_request")
	}
	if c := claims(t, w.mustExchange(t, as(tok, typeAccess, allowedKV))); c["agent_id"] != allowed {
		t.Fatalf("the actor may_act names: %v", c)
	}
}

// TestTokenExchangeDocExample runs the curl commands of docs/oauth.md's token exchange
// section, as written: only the address and the shell variables are filled in.
func TestTokenExchangeDocExample(t *testing.T) {
	t.Parallel()
	blocks := docShellBlocks(t, "Token exchange")
	if len(blocks) != 2 || !strings.Contains(blocks[0], "/oauth/register") || !strings.Contains(blocks[1], "/oauth/token") {
		t.Fatalf("the token exchange section's two curl examples are gone: %q", blocks)
	}
	const docResource, docAddress = "http://127.0.0.1:9090/mcp", "http://127.0.0.1:8080"
	srv := oauthtest.StartConfigured(t, testserver.Backends[0].New(t), devConfig(), func(c *oidc.Config) {
		c.Resources = map[string]string{docResource: "example"}
	})
	root := kavach.WithActor(context.Background(), api.Root)
	create := func(perms ...agent.Permission) *api.AgentWithToken {
		a, err := srv.Kavach.Agents().Create(root, api.CreateAgentRequest{OwnerID: "alice", Name: "doc", Permissions: perms})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	parent, child := create(agent.Permission{Resource: "mcp:example:*", Actions: []string{"call"}}), create()
	sh := func(script string, env ...string) map[string]any {
		t.Helper()
		return runShell(t, strings.ReplaceAll(script, docAddress, srv.URL), env...)
	}
	reg := sh(blocks[0])
	tok := sh(blocks[1], "CLIENT_ID="+reg["client_id"].(string), "CLIENT_SECRET="+reg["client_secret"].(string),
		"PARENT_TOKEN="+parent.Token, "CHILD_TOKEN="+child.Token)
	at, _ := tok["access_token"].(string)
	if at == "" || tok["issued_token_type"] != typeAccess {
		t.Fatalf("the exchange answered %v", tok)
	}
	c := claims(t, at)
	if c["agent_id"] != child.ID || !slices.Equal(actChain(c), []string{parent.ID}) || c["aud"].([]any)[0] != docResource {
		t.Fatalf("the exchanged token's claims %v", c)
	}
	caps, err := srv.Kavach.Agents().Capabilities(root, child.ID)
	if err != nil || len(caps.Capabilities) != 1 || caps.Capabilities[0].Resource != "mcp:example:echo" {
		t.Fatalf("the child holds %+v, %v: want mcp:example:echo through the delegation", caps, err)
	}
}
