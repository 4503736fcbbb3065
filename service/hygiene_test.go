package service_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// refusal is a request that must be refused as invalid input naming field.
type refusal struct {
	name, method, path, body, field string
	headers                         []string
}

// expectRefusals sends each request and checks for a 400 problem naming the field.
func expectRefusals(t *testing.T, srv *testserver.Server, key string, cases []refusal) {
	t.Helper()
	for _, tc := range cases {
		resp := send(t, tc.method, srv.URL+tc.path, key, tc.body, tc.headers...)
		if resp.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %.300s", tc.name, resp.status, resp.body)
			continue
		}
		if p := resp.problem(t); p.Field != tc.field || p.Code != api.CodeInvalidInput {
			t.Errorf("%s: field %q code %s, want %q: %.300s", tc.name, p.Field, p.Code, tc.field, p.Detail)
		}
	}
}

// TestFieldLimits: every id and string a route takes — in the body, the query or the path —
// has a length limit, and a longer one is refused naming the field instead of being stored.
func TestFieldLimits(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	key := srv.RootKey
	long := func(n int) string { return strings.Repeat("a", n) }
	id := long(agent.MaxIDLen + 1)
	authorize := func(fields string) string {
		return `{"agentId":"agt_x","action":"read","resource":"mcp:x",` + fields + `}`
	}
	expectRefusals(t, srv, key, []refusal{
		{name: "an agentId of 1 MB", method: "POST", path: "/v1/authorize", body: `{"agentId":"` + long(1_000_000) + `","action":"read","resource":"r"}`, field: "agentId"},
		{name: "an agentId one byte too long", method: "POST", path: "/v1/authorize", body: `{"agentId":"` + id + `","action":"read","resource":"r"}`, field: "agentId"},
		{name: "a user agent", method: "POST", path: "/v1/authorize", body: authorize(`"context":{"userAgent":"` + long(agent.MaxUserAgentLen+1) + `"}`), field: "context.userAgent"},
		{name: "an argument name", method: "POST", path: "/v1/authorize", body: authorize(`"arguments":{"` + long(agent.MaxArgumentNameLen+1) + `":1}`), field: "arguments"},
		{name: "an action", method: "POST", path: "/v1/authorize", body: `{"agentId":"agt_x","action":"` + long(agent.MaxActionLen+1) + `","resource":"r"}`, field: "action"},
		{name: "a User-Agent header", method: "POST", path: "/v1/authorize/token", body: `{"action":"read","resource":"r"}`, field: "User-Agent",
			headers: []string{"Authorization", "Bearer kv_garbage", "User-Agent", long(agent.MaxUserAgentLen + 1)}},
		{name: "a tenant id on a new key", method: "POST", path: "/v1/api-keys", body: `{"role":"admin","tenantId":"` + id + `"}`, field: "tenantId"},
		{name: "a tenant's name", method: "POST", path: "/v1/tenants", body: `{"id":"t1","name":"` + long(agent.MaxNameLen+1) + `"}`, field: "name"},
		{name: "a token to validate", method: "POST", path: "/v1/tokens/validate", body: `{"token":"` + long(agent.MaxTokenLen+1) + `"}`, field: "token"},
		{name: "a delegating agent", method: "POST", path: "/v1/delegations", body: `{"fromAgentId":"` + id + `","toAgentId":"agt_b","permissions":[{"resource":"r","actions":["a"]}]}`, field: "fromAgentId"},
		{name: "a denial's reason", method: "POST", path: "/v1/approvals/apr_x/deny", body: `{"reason":"` + long(agent.MaxReasonLen+1) + `"}`, field: "reason"},
		{name: "a metadata value", method: "POST", path: "/v1/agents", body: `{"ownerId":"o","name":"n","metadata":{"k":"` + long(agent.MaxMetadataValLen+1) + `"}}`, field: "metadata.k"},
		{name: "an approver", method: "POST", path: "/v1/agents", body: `{"ownerId":"o","name":"n","permissions":[{"resource":"r","actions":["a"],"constraints":{"approval":{"required":true,"approvers":["` + id + `"]}}}]}`, field: "permissions[0].constraints.approval.approvers[0]"},
		{name: "an owner filter", method: "GET", path: "/v1/agents?ownerId=" + id, field: "ownerId"},
		{name: "a cursor", method: "GET", path: "/v1/agents?cursor=" + long(agent.MaxCursorLen+1), field: "cursor"},
		{name: "an audit filter", method: "GET", path: "/v1/audit?agentId=" + id, field: "agentId"},
		{name: "an audit status filter", method: "GET", path: "/v1/audit?result=" + long(agent.MaxStringLen+1), field: "result"},
		{name: "an agent id in the path", method: "GET", path: "/v1/agents/" + id, field: "id"},
		{name: "an approval id in the path", method: "POST", path: "/v1/approvals/" + id + "/approve", field: "id"},
	})

	// At the limit is fine: an unknown agent of the longest id is a decision.
	resp := send(t, "POST", srv.URL+"/v1/authorize", key, `{"agentId":"`+long(agent.MaxIDLen)+`","action":"read","resource":"r"}`)
	var d api.Decision
	if resp.decode(t, &d); resp.status != http.StatusOK || d.Code != api.AgentNotFound {
		t.Fatalf("an agentId at the limit: %d %s", resp.status, resp.body)
	}
}

// TestInvalidUTF8IsRefused: encoding/json would replace invalid UTF-8 (and escaped lone
// surrogates) with U+FFFD, so that distinct raw ids collapse into one; they are refused
// instead, naming the field.
func TestInvalidUTF8IsRefused(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	key := srv.RootKey
	agents := func(fields string) string { return `{"name":"n",` + fields + `}` }
	expectRefusals(t, srv, key, []refusal{
		{name: "name", method: "POST", path: "/v1/agents", body: "{\"ownerId\":\"o\",\"name\":\"n\xff\"}", field: "name"},
		{name: "ownerId", method: "POST", path: "/v1/agents", body: agents("\"ownerId\":\"alice\xfe\""), field: "ownerId"},
		{name: "an escaped lone surrogate", method: "POST", path: "/v1/agents", body: agents(`"ownerId":"alice\ud800"`), field: "ownerId"},
		{name: "an escaped low surrogate first", method: "POST", path: "/v1/agents", body: agents(`"ownerId":"\udc00\ud800"`), field: "ownerId"},
		{name: "a nested resource", method: "POST", path: "/v1/agents", body: agents("\"ownerId\":\"o\",\"permissions\":[{\"resource\":\"a\",\"actions\":[\"b\"]},{\"resource\":\"x\xc3\",\"actions\":[\"b\"]}]"), field: "permissions[1].resource"},
		{name: "a metadata key", method: "POST", path: "/v1/agents", body: agents("\"ownerId\":\"o\",\"metadata\":{\"k\xff\":\"v\"}"), field: "metadata.k\uFFFD"},
		{name: "a tenant's name", method: "POST", path: "/v1/tenants", body: "{\"id\":\"t1\",\"name\":\"\xed\xa0\x80\"}", field: "name"},
		{name: "an approval reason", method: "POST", path: "/v1/approvals/apr_x/approve", body: "{\"reason\":\"ok\xff\"}", field: "reason"},
		{name: "authorize agentId", method: "POST", path: "/v1/authorize", body: "{\"agentId\":\"agt_\xff\",\"action\":\"read\",\"resource\":\"r\"}", field: "agentId"},
		{name: "an argument", method: "POST", path: "/v1/authorize", body: "{\"agentId\":\"agt_x\",\"action\":\"read\",\"resource\":\"r\",\"arguments\":{\"x\":[\"ok\",\"\xfe\"]}}", field: "arguments.x[1]"},
		{name: "an escaped user agent", method: "POST", path: "/v1/authorize", body: `{"agentId":"agt_x","action":"read","resource":"r","context":{"userAgent":"\udc00"}}`, field: "context.userAgent"},
		{name: "a User-Agent header", method: "POST", path: "/v1/authorize/token", body: `{"action":"read","resource":"r"}`, field: "User-Agent",
			headers: []string{"Authorization", "Bearer kv_garbage", "User-Agent", "bot\xff"}},
		{name: "a query parameter", method: "GET", path: "/v1/agents?ownerId=alice%ff", field: "ownerId"},
		{name: "an audit query parameter", method: "GET", path: "/v1/audit?resource=%c3", field: "resource"},
		{name: "a path id", method: "GET", path: "/v1/agents/agt_%ff", field: "id"},
	})

	// A surrogate pair is a character like any other.
	resp := send(t, "POST", srv.URL+"/v1/agents", key, `{"ownerId":"o","name":"smile \ud83d\ude00"}`)
	var a api.AgentWithToken
	if resp.decode(t, &a); resp.status != http.StatusCreated || a.Name != "smile 😀" {
		t.Fatalf("a surrogate pair: %d %s", resp.status, resp.body)
	}
}

// TestCallContextIPIsStrict: the end client's address is an IP address and nothing more —
// no zone, no surrounding white space, no line breaks to smuggle into logs.
func TestCallContextIPIsStrict(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	body := func(ip string) string {
		return `{"agentId":"agt_x","action":"read","resource":"r","context":{"ip":` + mustJSON(ip) + `}}`
	}
	var cases []refusal
	for _, ip := range []string{"10.0.0.1\r\n", "fe80::1%eth0", "fe80::1%eth0\r\nX-Injected: 1", " 10.0.0.1", "10.0.0.1 ",
		"10.0.0.300", "10.0.0.0/8", "localhost"} {
		cases = append(cases, refusal{name: ip, method: "POST", path: "/v1/authorize", body: body(ip), field: "context.ip"})
	}
	expectRefusals(t, srv, srv.RootKey, cases)
	for _, ip := range []string{"10.0.0.1", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1"} {
		resp := send(t, "POST", srv.URL+"/v1/authorize", srv.RootKey, body(ip))
		var d api.Decision
		if resp.decode(t, &d); resp.status != http.StatusOK || d.Code != api.AgentNotFound {
			t.Errorf("%s: %d %s", ip, resp.status, resp.body)
		}
	}
}

// TestFieldPaths: an error names the full path of the field, array indexes included.
func TestFieldPaths(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	ctx := kavach.WithActor(context.Background(), api.Root)
	a, err := srv.Kavach.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "o", Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	perm := `{"resource":"a","actions":["b"]}`
	agents := func(fields string) string { return `{"ownerId":"o","name":"n",` + fields + `}` }
	cases := []struct {
		name, method, path, body, field, reason string
	}{
		{"unknown nested field", "POST", "/v1/agents", agents(`"permissions":[` + perm + `,{"resource":"a","actions":["b"],"constraints":{"rateLimt":{"max":1}}}]`), "permissions[1].constraints.rateLimt", "UNKNOWN_FIELD"},
		{"unknown field in a permission", "POST", "/v1/agents", agents(`"permissions":[{"resource":"a","actions":["b"],"scope":"*"}]`), "permissions[0].scope", "UNKNOWN_FIELD"},
		{"unknown field in the call context", "POST", "/v1/authorize", `{"agentId":"agt_x","action":"a","resource":"r","context":{"ip":"10.0.0.1","port":1}}`, "context.port", "UNKNOWN_FIELD"},
		{"wrong type in the second permission", "POST", "/v1/agents", agents(`"permissions":[` + perm + `,{"resource":"a","actions":"b"}]`), "permissions[1].actions", ""},
		{"wrong type of one action", "POST", "/v1/delegations", `{"fromAgentId":"a","toAgentId":"b","permissions":[{"resource":"a","actions":["b",7]}]}`, "permissions[0].actions[1]", ""},
		{"bad duration", "POST", "/v1/agents", agents(`"permissions":[{"resource":"a","actions":["b"],"constraints":{"rateLimit":{"max":1,"window":"soon"}}}]`), "permissions[0].constraints.rateLimit.window", ""},
		{"bad day", "POST", "/v1/agents", agents(`"permissions":[{"resource":"a","actions":["b"],"constraints":{"timeWindows":[{"days":[1],"start":"09:00","end":"17:00","timezone":"UTC"}]}}]`), "permissions[0].constraints.timeWindows[0].days[0]", ""},
		{"bad time", "POST", "/v1/agents", agents(`"expiresAt":"tomorrow"`), "expiresAt", ""},
		{"time of the wrong type", "POST", "/v1/delegations", `{"fromAgentId":"a","toAgentId":"b","permissions":[],"expiresAt":5}`, "expiresAt", ""},
		{"bad time on update", "PATCH", "/v1/agents/" + a.ID, `{"expiresAt":"2026-13-01T00:00:00Z"}`, "expiresAt", ""},
		{"metadata value of the wrong type", "PATCH", "/v1/agents/" + a.ID, `{"metadata":{"k":1}}`, "metadata.k", ""},
		{"argument pattern of the wrong type", "PATCH", "/v1/agents/" + a.ID, `{"permissions":[{"resource":"a","actions":["b"],"constraints":{"argumentPatterns":{"repo":false}}}]}`, "permissions[0].constraints.argumentPatterns.repo", ""},
		{"grace period", "POST", "/v1/agents/" + a.ID + "/rotate", `{"gracePeriod":12}`, "gracePeriod", ""},
	}
	for _, tc := range cases {
		resp := send(t, tc.method, srv.URL+tc.path, srv.RootKey, tc.body)
		if resp.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", tc.name, resp.status, resp.body)
			continue
		}
		if p := resp.problem(t); p.Field != tc.field || p.Reason != tc.reason {
			t.Errorf("%s: field %q reason %q, want %q %q (%s)", tc.name, p.Field, p.Reason, tc.field, tc.reason, p.Detail)
		}
	}
}

// TestOversizedHeadersAndURIs: a request line or header block over the limits is answered
// with problem+json like any other refusal, not net/http's text/plain.
func TestOversizedHeadersAndURIs(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	cases := []struct {
		name    string
		request string
		status  int
		reason  string
	}{
		{"a long query", "GET /v1/agents?cursor=" + strings.Repeat("a", service.MaxURIBytes) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI_TOO_LONG"},
		{"a long path", "GET /v1/agents/" + strings.Repeat("a", service.MaxURIBytes) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI_TOO_LONG"},
		{"a long URI of no route", "GET /v1/nothing/" + strings.Repeat("a", service.MaxURIBytes) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI_TOO_LONG"},
		{"a long header", "GET /v1/agents HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", 431, "HEADERS_TOO_LARGE"},
		{"many headers", "GET /v1/agents HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: "+strings.Repeat("a", 1000)+"\r\n", 80) + "\r\n", 431, "HEADERS_TOO_LARGE"},
		{"a request line over the header limit", "GET /v1/agents?cursor=" + strings.Repeat("a", 80<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", 431, "HEADERS_TOO_LARGE"},
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range cases {
		resp := sendRaw(t, addr, tc.request)
		if resp.status != tc.status {
			t.Errorf("%s: status %d, want %d: %.200s", tc.name, resp.status, tc.status, resp.body)
			continue
		}
		if p := resp.problem(t); p.Reason != tc.reason || p.Code != api.CodeInvalidInput {
			t.Errorf("%s: %+v", tc.name, p)
		}
	}
	if resp := send(t, "GET", srv.URL+"/v1/agents", srv.RootKey, ""); resp.status != http.StatusOK {
		t.Fatalf("the server stopped serving: %d %s", resp.status, resp.body)
	}
}

// sendRaw writes request as is on a new connection and reads the answer.
func sendRaw(t *testing.T, addr, request string) response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The server may answer and close before it has read all of an oversized request, so a
	// failed write is not the end: the answer is read regardless.
	_, _ = conn.Write([]byte(request))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return response{resp.StatusCode, resp.Header, []byte(b.String())}
}
