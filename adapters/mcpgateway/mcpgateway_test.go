package mcpgateway

import (
	"encoding/json"
	"net/http"
	"testing"
)

// End-to-end tests, with the Go MCP SDK's client and the example server, live in
// examples/mcp-server (gateway_test.go), which keeps the SDK out of this module.

func TestRoutingHeadersMustMatchTheBody(t *testing.T) {
	t.Parallel()
	var call, read message
	_ = json.Unmarshal([]byte(`{"method":"tools/call","params":{"name":"echo"}}`), &call)
	_ = json.Unmarshal([]byte(`{"method":"resources/read","params":{"uri":"file:///a"}}`), &read)
	for _, c := range []struct {
		name           string
		method, target string
		m              message
		ok             bool
	}{
		{"no headers", "", "", call, true},
		{"matching", "tools/call", "echo", call, true},
		{"another tool", "tools/call", "delete_file", call, false},
		{"another method", "tools/list", "", call, false},
		{"resource uri", "resources/read", "file:///a", read, true},
		{"another uri", "resources/read", "file:///etc/passwd", read, false},
	} {
		h := http.Header{}
		if c.method != "" {
			h.Set("Mcp-Method", c.method)
		}
		if c.target != "" {
			h.Set("Mcp-Name", c.target)
		}
		if got := routingMismatch(h, c.m) == ""; got != c.ok {
			t.Errorf("%s: accepted = %v, want %v", c.name, got, c.ok)
		}
	}
}

func TestEventStreamFieldsSurvive(t *testing.T) {
	t.Parallel()
	f := &filter{l: &listing{ids: map[string]bool{}}} // no tools/list id: nothing is asked
	in := ": comment\nevent: message\nid: 7\ndata: {\"jsonrpc\":\"2.0\",\ndata: \"id\":1,\"result\":{}}\n\n"
	out, err := f.stream([]byte(in))
	if err != nil || string(out) != in {
		t.Fatalf("got %q, %v; want %q", out, err, in)
	}
}
