// Command mcp-server is a small MCP server (streamable HTTP, on the official Go SDK) whose
// every request needs a Kavach OAuth token and whose every tool call is authorized by
// Kavach's permission engine through mcpauth.
package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kavachos/kavach-go/mcpauth"
)

// ServerName is the server's name in Kavach permissions: mcp:example:<tool>.
const ServerName = "example"

type echoArgs struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}

type addArgs struct {
	A int `json:"a" jsonschema:"first addend"`
	B int `json:"b" jsonschema:"second addend"`
}

type deleteArgs struct {
	Path string `json:"path" jsonschema:"the file to delete"`
}

// NewMCPServer returns the MCP server with its tools: echo, add and delete_file (which
// deletes nothing; it is there to be denied).
func NewMCPServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "kavach-example", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echo the text back."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			return text(in.Text), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Add two integers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, any, error) {
			return text(fmt.Sprint(in.A + in.B)), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "delete_file", Description: "Pretend to delete a file."},
		func(_ context.Context, _ *mcp.CallToolRequest, in deleteArgs) (*mcp.CallToolResult, any, error) {
			return text("deleted " + in.Path + " (not really)"), nil, nil
		})
	return s
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// Handler serves the MCP server at the guard's resource path, with the protected
// resource metadata beside it.
func Handler(g *mcpauth.Guard) http.Handler {
	srv := NewMCPServer()
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{})
	mux := http.NewServeMux()
	g.Mount(mux, mcpHandler)
	return mux
}

// resourceURL is the canonical URI of the MCP endpoint served at addr.
func resourceURL(addr string) string {
	return "http://" + strings.TrimPrefix(addr, "http://") + "/mcp"
}
