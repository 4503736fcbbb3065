package service_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// TestHostileRequests: malformed, oversized, mistyped and misdirected requests get a 4xx
// problem naming what is wrong — never a 500 or a dropped connection — and the server
// keeps serving.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	key := srv.RootKey
	window := `{"ownerId":"o","name":"n","permissions":[{"resource":"a","actions":["b"],"constraints":{"rateLimit":{"max":1,"window":"soon"}}}]}`
	deep := `{"agentId":"agt_x","action":"a","resource":"r","arguments":{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		field, reason            string
	}{
		{"malformed JSON", "POST", "/v1/agents", `{"name": "x",`, nil, 400, "body", ""},
		{"not JSON at all", "POST", "/v1/agents", `name=x`, nil, 400, "body", ""},
		{"an array, not an object", "POST", "/v1/agents", `[]`, nil, 400, "body", ""},
		{"null", "POST", "/v1/agents", `null`, nil, 400, "body", ""},
		{"trailing data", "POST", "/v1/agents", `{"ownerId":"o","name":"n"} {"name":"m"}`, nil, 400, "body", ""},
		{"empty body", "POST", "/v1/agents", ``, nil, 400, "body", ""},
		{"unknown field", "POST", "/v1/agents", `{"ownerId":"o","name":"n","role":"root"}`, nil, 400, "role", "UNKNOWN_FIELD"},
		{"unknown nested field", "POST", "/v1/agents", `{"ownerId":"o","name":"n","permissions":[{"resource":"a","actions":["b"],"scope":"*"}]}`, nil, 400, "permissions[0].scope", "UNKNOWN_FIELD"},
		{"wrong type", "POST", "/v1/agents", `{"ownerId":"o","name":5}`, nil, 400, "name", ""},
		{"wrong nested type", "POST", "/v1/agents", `{"ownerId":"o","name":"n","permissions":[{"resource":"a","actions":"b"}]}`, nil, 400, "permissions[0].actions", ""},
		{"bad duration", "POST", "/v1/agents", window, nil, 400, "permissions[0].constraints.rateLimit.window", ""},
		{"bad time", "POST", "/v1/agents", `{"ownerId":"o","name":"n","expiresAt":"tomorrow"}`, nil, 400, "expiresAt", ""},
		{"number out of range", "POST", "/v1/delegations", `{"fromAgentId":"a","toAgentId":"b","maxDepth":1e309}`, nil, 400, "maxDepth", ""},
		{"control characters", "POST", "/v1/agents", "{\"ownerId\":\"o\",\"name\":\"a\\u0000b\"}", nil, 400, "name", ""},
		{"nesting too deep", "POST", "/v1/authorize", deep, nil, 400, "body", ""},
		{"arguments too large", "POST", "/v1/authorize", `{"agentId":"agt_x","action":"a","resource":"r","arguments":{"x":"` + strings.Repeat("y", 70<<10) + `"}}`, nil, 400, "arguments", ""},
		{"text/plain", "POST", "/v1/agents", `{"ownerId":"o","name":"n"}`, []string{"Content-Type", "text/plain"}, 415, "Content-Type", "UNSUPPORTED_MEDIA_TYPE"},
		{"form encoded", "POST", "/v1/authorize", `agentId=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "Content-Type", "UNSUPPORTED_MEDIA_TYPE"},
		{"no content type", "POST", "/v1/tenants", `{"id":"x"}`, []string{"Content-Type", ""}, 415, "Content-Type", "UNSUPPORTED_MEDIA_TYPE"},
		{"body on a route that takes none", "POST", "/v1/agents/agt_x/revoke", `{"force":true}`, nil, 400, "force", "UNKNOWN_FIELD"},
		{"unknown query parameter", "GET", "/v1/agents?owner=alice", "", nil, 400, "owner", "UNKNOWN_FIELD"},
		{"repeated query parameter", "GET", "/v1/agents?ownerId=a&ownerId=b", "", nil, 400, "ownerId", ""},
		{"limit not a number", "GET", "/v1/agents?limit=ten", "", nil, 400, "limit", ""},
		{"limit too large", "GET", "/v1/approvals?limit=100000", "", nil, 400, "limit", ""},
		{"forged cursor", "GET", "/v1/agents?cursor=%21%21", "", nil, 400, "cursor", ""},
		{"method not allowed", "DELETE", "/v1/agents", "", nil, 405, "", "METHOD_NOT_ALLOWED"},
		{"no such route", "GET", "/v1/agents/x/y/z", "", nil, 404, "", ""},
		{"authorize without agent", "POST", "/v1/authorize", `{"action":"read","resource":"r"}`, nil, 400, "agentId", ""},
		{"authorize with a bad IP", "POST", "/v1/authorize", `{"agentId":"agt_x","action":"read","resource":"r","context":{"ip":"10.0.0.300"}}`, nil, 400, "context.ip", ""},
	}
	for _, tc := range cases {
		resp := send(t, tc.method, srv.URL+tc.path, key, tc.body, tc.headers...)
		if resp.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.status, tc.status, resp.body)
			continue
		}
		p := resp.problem(t)
		if p.Field != tc.field || p.Reason != tc.reason {
			t.Errorf("%s: field %q reason %q, want %q %q (%s)", tc.name, p.Field, p.Reason, tc.field, tc.reason, p.Detail)
		}
	}

	// 20 MB, with and without a declared length: refused before it is read into memory.
	big := bytes.Repeat([]byte("a"), 20<<20)
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(big)
		if chunked {
			body = io.MultiReader(bytes.NewReader(big)) // hides the length: sent chunked
		}
		req, _ := http.NewRequest("POST", srv.URL+"/v1/agents", body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("20 MB body (chunked %v): %v", chunked, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := response{resp.StatusCode, resp.Header, b}
		if r.status != http.StatusRequestEntityTooLarge || r.problem(t).Reason != "BODY_TOO_LARGE" {
			t.Errorf("20 MB body (chunked %v): %d %s", chunked, r.status, b)
		}
	}
	if resp := send(t, "GET", srv.URL+"/healthz", "", ""); resp.status != http.StatusOK {
		t.Fatalf("the server stopped serving: %d", resp.status)
	}
	if resp := send(t, "GET", srv.URL+"/v1/agents", key, ""); resp.status != http.StatusOK {
		t.Fatalf("the server stopped serving the API: %d %s", resp.status, resp.body)
	}
}

// TestAgentCannotChooseItsIP: an agent authorizing itself with its token is judged at the
// connection's address, or the first X-Forwarded-For hop that a trusted proxy did not add.
func TestAgentCannotChooseItsIP(t *testing.T) {
	t.Parallel()
	db := testserver.Backends[0].New(t)
	plain := testserver.Start(t, db, service.Config{})
	ctx := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "alice"})
	a, err := plain.Kavach.Agents().Create(ctx, api.CreateAgentRequest{Name: "n", Permissions: []agent.Permission{
		{Resource: "db:prod", Actions: []string{"query"}, Constraints: &agent.Constraints{IPAllowlist: []string{"203.0.113.0/24"}}},
		{Resource: "db:local", Actions: []string{"query"}, Constraints: &agent.Constraints{IPAllowlist: []string{"127.0.0.1"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// A second server over the same database, started after the agent exists, trusts the
	// loopback address as its proxy.
	proxied := testserver.Start(t, db, service.Config{TrustedProxies: []string{"127.0.0.1/32"}})
	prod := `{"action":"query","resource":"db:prod"}`
	cases := []struct {
		name   string
		srv    *testserver.Server
		body   string
		xff    string
		status int
		code   string
	}{
		{"IP in the body", plain, `{"action":"query","resource":"db:prod","ip":"203.0.113.7"}`, "", 400, "ip"},
		{"context in the body", plain, `{"action":"query","resource":"db:prod","context":{"ip":"203.0.113.7"}}`, "", 400, "context"},
		{"the connection's address", plain, `{"action":"query","resource":"db:local"}`, "", 200, "ALLOWED"},
		{"no proxy trusted: X-Forwarded-For ignored", plain, prod, "203.0.113.7", 200, "IP_NOT_ALLOWED"},
		{"a trusted proxy's hop believed", proxied, prod, "203.0.113.7", 200, "ALLOWED"},
		{"a forged hop before an untrusted one", proxied, prod, "203.0.113.7, 198.51.100.9", 200, "IP_NOT_ALLOWED"},
		{"garbage in X-Forwarded-For", proxied, prod, "not-an-ip", 200, "IP_NOT_ALLOWED"},
	}
	for _, tc := range cases {
		resp := send(t, "POST", tc.srv.URL+"/v1/authorize/token", a.Token, tc.body, "X-Forwarded-For", tc.xff)
		if resp.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.status, tc.status, resp.body)
			continue
		}
		if resp.status != http.StatusOK {
			if p := resp.problem(t); p.Field != tc.code || p.Reason != "UNKNOWN_FIELD" {
				t.Errorf("%s: field %q reason %q", tc.name, p.Field, p.Reason)
			}
			continue
		}
		var d api.Decision
		resp.decode(t, &d)
		if string(d.Code) != tc.code {
			t.Errorf("%s: %s (%s), want %s", tc.name, d.Code, d.Reason, tc.code)
		}
	}

	credentials := []struct {
		name, bearer string
		status       int
		code         string
	}{
		{"no token", "", 401, "unauthenticated"},
		{"an API key", plain.RootKey, 401, "unauthenticated"},
		{"a garbage token", "kv_garbage", 200, "TOKEN_INVALID"},
	}
	for _, tc := range credentials {
		resp := send(t, "POST", plain.URL+"/v1/authorize/token", tc.bearer, prod)
		switch {
		case resp.status != tc.status:
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.status, tc.status, resp.body)
		case resp.status == http.StatusOK:
			var d api.Decision
			if resp.decode(t, &d); string(d.Code) != tc.code {
				t.Errorf("%s: %s", tc.name, d.Code)
			}
		case string(resp.problem(t).Code) != tc.code:
			t.Errorf("%s: %s", tc.name, resp.body)
		}
	}
}
