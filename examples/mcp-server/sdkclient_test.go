package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/oidc"
)

const sdkRedirect = "http://127.0.0.1:33419/callback"

// headlessFetcher plays the browser for the SDK's OAuth client: it follows the
// authorization server's redirects (the dev login approves at once) and picks the code,
// state and iss off the redirect to the client.
func headlessFetcher(t *testing.T) auth.AuthorizationCodeFetcher {
	return func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		c := &http.Client{CheckRedirect: func(r *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(r.URL.String(), sdkRedirect) {
				return http.ErrUseLastResponse
			}
			return nil
		}}
		resp, err := c.Get(args.URL)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			return nil, fmt.Errorf("the authorization server answered %d without redirecting to the client", resp.StatusCode)
		}
		q := loc.Query()
		if q.Get("error") != "" {
			return nil, fmt.Errorf("authorization refused: %s", q.Get("error"))
		}
		return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
	}
}

// connect connects the Go MCP SDK's client, with its own OAuth handler, to the server at
// endpoint: discovery, registration, authorization and the token are all the SDK's doing.
func connect(t *testing.T, endpoint string, cfg *auth.AuthorizationCodeHandlerConfig) *mcp.ClientSession {
	t.Helper()
	cfg.AuthorizationCodeFetcher, cfg.RedirectURL = headlessFetcher(t), sdkRedirect
	h, err := auth.NewAuthorizationCodeHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := mcp.NewClient(&mcp.Implementation{Name: "sdk-client", Version: "1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: endpoint, OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connecting with the SDK's OAuth client: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestEndToEndWithMetadataDocument: the Go MCP SDK's own OAuth client, identified by a
// client ID metadata document served over https on loopback (which this configuration
// explicitly allows and whose CA it trusts), reaches the example server and calls a tool.
func TestEndToEndWithMetadataDocument(t *testing.T) {
	t.Parallel()
	var docURL string
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id": docURL, "client_name": "SDK client (metadata document)", "redirect_uris": []string{sdkRedirect},
			"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
		})
	}))
	t.Cleanup(docs.Close)
	docURL = docs.URL + "/oauth/client.json"
	roots := x509.NewCertPool()
	roots.AddCert(docs.Certificate())
	d := deploy(t, testserver.Backends[0].New(t), func(c *oidc.Config) {
		c.AllowLoopbackMetadata, c.MetadataRootCAs = true, roots
	})
	s := connect(t, d.resource, &auth.AuthorizationCodeHandlerConfig{
		ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: docURL},
	})
	if got := callText(t, s, "echo", map[string]any{"text": "from a metadata document client"}); got != "from a metadata document client" {
		t.Fatalf("echo: %q", got)
	}
	agentOf(t, d, "dev-user")
}

// TestEmbeddedExample: the command's default mode — Kavach embedded with the headless dev
// login — serves the SDK's OAuth client with dynamic registration end to end.
func TestEmbeddedExample(t *testing.T) {
	t.Parallel()
	var log strings.Builder
	s, err := startEmbedded(context.Background(), options{
		listen: "127.0.0.1:0", kavachListen: "127.0.0.1:0", autoApprove: true,
		database: "sqlite://" + filepath.Join(t.TempDir(), "kavach.db"),
	}, &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	if !strings.Contains(log.String(), "admin API key: kva_") {
		t.Errorf("the first start prints the admin key:\n%s", log.String())
	}
	session := connect(t, s.resource, &auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName: "SDK client (registered)", RedirectURIs: []string{sdkRedirect}, TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"authorization_code", "refresh_token"},
		}},
	})
	tools, err := session.ListTools(context.Background(), nil)
	if err != nil || len(tools.Tools) != 3 {
		t.Fatalf("tools/list: %+v, %v", tools, err)
	}
	if got := callText(t, session, "add", map[string]any{"a": 40, "b": 2}); got != "42" {
		t.Fatalf("add: %q", got)
	}
}
