package grpc_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	grpcgo "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	kavach "github.com/kavachos/kavach-go"
	kavachgrpc "github.com/kavachos/kavach-go/adapters/grpc"
	"github.com/kavachos/kavach-go/adapters/internal/adaptertest"
	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// decisionSeen wraps the health service to check that handlers get the decision and not
// the token.
type decisionSeen struct{ *health.Server }

func (d decisionSeen) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if dec, ok := kavachgrpc.DecisionFrom(ctx); !ok || dec.Grant == "" {
		return nil, status.Error(codes.Internal, "no decision in the handler's context")
	}
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("authorization")) != 0 {
		return nil, status.Error(codes.Internal, "the handler saw the agent's token")
	}
	return d.Server.Check(ctx, req)
}

type world struct {
	k      *kavach.Kavach
	token  string
	plain  healthpb.HealthClient // a server trusting no proxy
	behind healthpb.HealthClient // a server trusting loopback as a proxy
}

func newWorld(t *testing.T) *world {
	ctx := api.WithActor(context.Background(), api.Root)
	k, err := kavach.Open(ctx, kavach.Config{
		Database: "sqlite://" + filepath.Join(t.TempDir(), "kavach.db"),
		Audit:    kavach.AuditConfig{SigningKey: adaptertest.SigningKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	a, err := k.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "alice", Name: "grpc", Permissions: []agent.Permission{
		{Resource: "grpc:grpc.health.v1.Health:Check", Actions: []string{"call"}},
		{Resource: "grpc:grpc.health.v1.Health:List", Actions: []string{"call"}, Constraints: &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}},
		{Resource: "grpc:grpc.health.v1.Health:Watch", Actions: []string{"call"}, Constraints: &agent.Constraints{Approval: &agent.Approval{Required: true}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	app := api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}
	serve := func(trusted []string) healthpb.HealthClient {
		ic, err := kavachgrpc.New(kavachgrpc.Config{Config: nethttp.Config{Authorizer: k, Actor: &app, TrustedProxies: trusted}})
		if err != nil {
			t.Fatal(err)
		}
		s := grpcgo.NewServer(grpcgo.UnaryInterceptor(ic.Unary()), grpcgo.StreamInterceptor(ic.Stream()))
		healthpb.RegisterHealthServer(s, decisionSeen{health.NewServer()})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = s.Serve(ln) }()
		t.Cleanup(s.Stop)
		conn, err := grpcgo.NewClient(ln.Addr().String(), grpcgo.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return healthpb.NewHealthClient(conn)
	}
	return &world{k: k, token: a.Token, plain: serve(nil), behind: serve([]string{"127.0.0.0/8", "::1"})}
}

func withToken(token string, kv ...string) context.Context {
	ctx := context.Background()
	if token != "" {
		kv = append(kv, "authorization", "Bearer "+token)
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

// refusal checks a call's error: its status code and the decision in its ErrorInfo.
func refusal(t *testing.T, err error, code codes.Code, reason api.DecisionCode) *errdetails.ErrorInfo {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("status %v (%s), want %v", st.Code(), st.Message(), code)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.Domain != kavachgrpc.ErrorDomain || info.Reason != string(reason) {
				t.Fatalf("error info %+v, want reason %q", info, reason)
			}
			return info
		}
	}
	t.Fatalf("no ErrorInfo in %v", st)
	return nil
}

func TestGRPC(t *testing.T) {
	w := newWorld(t)
	check := &healthpb.HealthCheckRequest{}

	t.Run("Allowed", func(t *testing.T) {
		if _, err := w.plain.Check(withToken(w.token), check); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("DeniedCodeMapped", func(t *testing.T) {
		other, err := w.k.Agents().Create(api.WithActor(context.Background(), api.Root), api.CreateAgentRequest{
			OwnerID: "bob", Name: "none", Permissions: []agent.Permission{{Resource: "grpc:other:*", Actions: []string{"call"}}}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.plain.Check(withToken(other.Token), check)
		if info := refusal(t, err, codes.PermissionDenied, api.NoPermission); info.Metadata["auditId"] == "" {
			t.Errorf("no audit id: %+v", info)
		}
	})
	t.Run("MissingAndInvalidToken", func(t *testing.T) {
		_, err := w.plain.Check(withToken(""), check)
		if st := status.Convert(err); st.Code() != codes.Unauthenticated {
			t.Fatalf("no token: %v", st)
		}
		_, err = w.plain.Check(withToken("kv_"+strings.Repeat("A", 43)), check)
		refusal(t, err, codes.Unauthenticated, api.TokenInvalid)
	})
	t.Run("SpoofedForwardedForIgnored", func(t *testing.T) {
		spoof := []string{"x-forwarded-for", "10.1.2.3"}
		_, err := w.plain.List(withToken(w.token, spoof...), &healthpb.HealthListRequest{})
		refusal(t, err, codes.PermissionDenied, api.IPNotAllowed)
		if _, err := w.behind.List(withToken(w.token, spoof...), &healthpb.HealthListRequest{}); err != nil {
			t.Fatalf("behind a trusted proxy: %v", err)
		}
	})
	t.Run("ApprovalRequiredOnStream", func(t *testing.T) {
		s, err := w.plain.Watch(withToken(w.token), check)
		if err == nil {
			_, err = s.Recv()
		}
		info := refusal(t, err, codes.PermissionDenied, api.ApprovalRequired)
		if _, err := w.k.Approvals().Get(api.WithActor(context.Background(), api.Root), info.Metadata["approvalId"]); err != nil {
			t.Fatalf("approval %q: %v", info.Metadata["approvalId"], err)
		}
	})
}
