package envoy_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/adapters/envoy"
	"github.com/kavachos/kavach-go/adapters/internal/adaptertest"
	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// start serves the ext_authz service over gRPC on loopback and returns a client.
func start(t *testing.T, cfg nethttp.Config) authv3.AuthorizationClient {
	s, err := envoy.New(envoy.Config{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	authv3.RegisterAuthorizationServer(g, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

// request is a CheckRequest as Envoy sends it: the downstream client at source.
func request(method, path, source string, headers map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: source, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: path, Headers: headers}},
	}}
}

func TestCheck(t *testing.T) {
	ctx := api.WithActor(context.Background(), api.Root)
	k, err := kavach.Open(ctx, kavach.Config{
		Database: "sqlite://" + filepath.Join(t.TempDir(), "kavach.db"),
		Audit:    kavach.AuditConfig{SigningKey: adaptertest.SigningKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	a, err := k.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "alice", Name: "envoy", Permissions: []agent.Permission{
		{Resource: "http:repos:*", Actions: []string{"get"}},
		{Resource: "http:internal", Actions: []string{"get"}, Constraints: &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}},
		{Resource: "http:deploy", Actions: []string{"post"}, Constraints: &agent.Constraints{Approval: &agent.Approval{Required: true}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	app := api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}
	c := start(t, nethttp.Config{Authorizer: k, Actor: &app})
	bearer := map[string]string{"authorization": "Bearer " + a.Token}

	t.Run("Allowed", func(t *testing.T) {
		resp, err := c.Check(context.Background(), request("GET", "/repos/42?page=2", "192.0.2.7", bearer))
		if err != nil || resp.GetStatus().GetCode() != int32(codes.OK) {
			t.Fatalf("%v %v", resp, err)
		}
		ok := resp.GetOkResponse()
		if len(ok.GetHeadersToRemove()) != 1 || ok.GetHeadersToRemove()[0] != "authorization" {
			t.Errorf("the token would travel upstream: %v", ok)
		}
		found := false
		for _, h := range ok.GetHeaders() {
			found = found || (h.GetHeader().GetKey() == envoy.HeaderAuditID && h.GetHeader().GetValue() != "")
		}
		if !found {
			t.Errorf("no audit id header: %v", ok)
		}
	})
	deny := func(t *testing.T, req *authv3.CheckRequest, status int32, reason api.DecisionCode) nethttp.Problem {
		t.Helper()
		resp, err := c.Check(context.Background(), req)
		if err != nil || resp.GetStatus().GetCode() == int32(codes.OK) {
			t.Fatalf("%v %v", resp, err)
		}
		d := resp.GetDeniedResponse()
		p, err := envoy.ProblemOf(d)
		if err != nil || int32(d.GetStatus().GetCode()) != status || p.Reason != string(reason) {
			t.Fatalf("denied response %v (%v), want %d %s", d, err, status, reason)
		}
		return p
	}
	t.Run("DeniedCodeMapped", func(t *testing.T) {
		if p := deny(t, request("DELETE", "/repos/42", "192.0.2.7", bearer), 403, api.NoPermission); p.AuditID == "" {
			t.Errorf("no audit id: %+v", p)
		}
	})
	t.Run("MissingAndInvalidToken401", func(t *testing.T) {
		deny(t, request("GET", "/repos/42", "192.0.2.7", nil), 401, "")
		deny(t, request("GET", "/repos/42", "192.0.2.7", map[string]string{"authorization": "Bearer kv_" + strings.Repeat("A", 43)}), 401, api.TokenInvalid)
	})
	t.Run("SpoofedForwardedForIgnored", func(t *testing.T) {
		h := map[string]string{"authorization": bearer["authorization"], "x-forwarded-for": "10.1.2.3"}
		deny(t, request("GET", "/internal", "192.0.2.7", h), 403, api.IPNotAllowed)
		// The client's own address, as Envoy reports it, is what counts.
		resp, err := c.Check(context.Background(), request("GET", "/internal", "10.9.9.9", bearer))
		if err != nil || resp.GetStatus().GetCode() != int32(codes.OK) {
			t.Fatalf("from 10.9.9.9: %v %v", resp, err)
		}
	})
	t.Run("ApprovalRequiredSurfaced", func(t *testing.T) {
		p := deny(t, request("POST", "/deploy", "192.0.2.7", bearer), 403, api.ApprovalRequired)
		if _, err := k.Approvals().Get(ctx, p.ApprovalID); err != nil {
			t.Fatalf("approval %q: %v", p.ApprovalID, err)
		}
	})
}

// TestCheckContinuesTrace: a Check whose gRPC metadata carries traceparent (as a tracing
// Envoy sends it) is decided in that trace (so its audit event names it), allowed or denied; without it, the checked
// request's own traceparent header is continued; with both, the metadata wins.
func TestCheckContinuesTrace(t *testing.T) {
	ctx := api.WithActor(context.Background(), api.Root)
	k, err := kavach.Open(ctx, kavach.Config{
		Database: "sqlite://" + filepath.Join(t.TempDir(), "kavach.db"),
		Audit:    kavach.AuditConfig{SigningKey: adaptertest.SigningKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	a, err := k.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "alice", Name: "envoy", Permissions: []agent.Permission{
		{Resource: "http:repos:*", Actions: []string{"get"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	app := api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}
	rec := adaptertest.NewTraceRecorder(k)
	c := start(t, nethttp.Config{Authorizer: rec, Actor: &app})
	const otherTrace = "0af7651916cd43dd8448eb211c80319c"
	inMetadata := metadata.AppendToOutgoingContext(context.Background(), "traceparent", adaptertest.Traceparent)

	auditID := func(resp *authv3.CheckResponse) string {
		if p, err := envoy.ProblemOf(resp.GetDeniedResponse()); err == nil && p.AuditID != "" {
			return p.AuditID
		}
		for _, h := range resp.GetOkResponse().GetHeaders() {
			if h.GetHeader().GetKey() == envoy.HeaderAuditID {
				return h.GetHeader().GetValue()
			}
		}
		t.Fatalf("no audit id in %v", resp)
		return ""
	}
	for _, c2 := range []struct {
		name    string
		ctx     context.Context
		method  string
		headers map[string]string
		want    string
	}{
		{"AllowedFromMetadata", inMetadata, "GET", nil, adaptertest.TraceID},
		{"DeniedFromMetadata", inMetadata, "DELETE", nil, adaptertest.TraceID},
		{"FromRequestHeaders", context.Background(), "GET", map[string]string{"traceparent": "00-" + otherTrace + "-b7ad6b7169203331-01"}, otherTrace},
		{"MetadataBeforeHeaders", inMetadata, "GET", map[string]string{"traceparent": "00-" + otherTrace + "-b7ad6b7169203331-01"}, adaptertest.TraceID},
		{"NoTrace", context.Background(), "GET", nil, ""},
	} {
		t.Run(c2.name, func(t *testing.T) {
			h := map[string]string{"authorization": "Bearer " + a.Token}
			for k, v := range c2.headers {
				h[k] = v
			}
			resp, err := c.Check(c2.ctx, request(c2.method, "/repos/42", "192.0.2.7", h))
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.TraceOf(t, auditID(resp)); got != c2.want {
				t.Errorf("the decision was asked in trace %q, want %q", got, c2.want)
			}
		})
	}
}
