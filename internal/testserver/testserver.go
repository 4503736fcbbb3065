// Package testserver starts the real Kavach HTTP service on a loopback port over a real
// database, for end-to-end tests of the service, the HTTP client and the CLI.
package testserver

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/client"
	"github.com/kavachos/kavach-go/service"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// Server is a running service and the facade behind it.
type Server struct {
	URL     string // http://127.0.0.1:PORT
	RootKey string // a root API key
	Kavach  *kavach.Kavach
	Service *service.Server
}

// Backend is a kind of database that tests run against.
type Backend struct {
	Name string
	// New returns the URL of a fresh, empty database that lives as long as the test.
	New func(t testing.TB) string
}

// Backends are the embedded SQLite default and PostgreSQL (see pgtest).
var Backends = []Backend{
	{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "kavach.db") }},
	{"postgres", func(t testing.TB) string { return pgtest.URL(t) }},
}

// AuditKey is the audit signing key tests use, so that no key file is written into the
// source tree.
const AuditKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// EachBackend runs fn once per backend, in parallel subtests named after them.
func EachBackend(t *testing.T, fn func(t *testing.T, b Backend)) {
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// Start opens Kavach on database, bootstraps a root key and serves the API on a loopback
// port until the test ends; then it drains and closes, as `kavach serve` does.
func Start(t testing.TB, database string, cfg service.Config) *Server {
	t.Helper()
	return StartWith(t, database, Options{Service: cfg})
}

// Options tune StartWith.
type Options struct {
	Service service.Config
	// SyncAudit commits each decision's audit event before authorize returns, so that a
	// test can read the ledger right after a call.
	SyncAudit bool
	// AuditMask lists argument names whose values are never stored.
	AuditMask []string
	// Mounts, if set, adds handlers built once the server's URL is known (an OAuth issuer
	// names its own address).
	Mounts func(k *kavach.Kavach, url string) []service.Mount
}

// StartWith is Start with Options.
func StartWith(t testing.TB, database string, o Options) *Server {
	t.Helper()
	ctx := context.Background()
	cfg, mounts := o.Service, o.Mounts
	k, err := kavach.Open(ctx, kavach.Config{Database: database, Audit: kavach.AuditConfig{SigningKey: AuditKey, Sync: o.SyncAudit, Mask: o.AuditMask}})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := k.BootstrapAPIKey(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mounts != nil {
		cfg.Mounts = append(cfg.Mounts, mounts(k, "http://"+ln.Addr().String())...)
	}
	srv, err := service.New(k, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the server did not shut down")
		}
		k.Close()
	})
	return &Server{URL: "http://" + ln.Addr().String(), RootKey: key, Kavach: k, Service: srv}
}

// Key creates an API key acting as a and returns its secret.
func (s *Server) Key(t testing.TB, a api.Actor) string {
	t.Helper()
	req := api.CreateAPIKeyRequest{Role: a.Role, TenantID: a.TenantID, OwnerID: a.OwnerID, Name: "test"}
	k, err := s.Kavach.APIKeys().Create(kavach.WithActor(context.Background(), api.Root), req)
	if err != nil {
		t.Fatalf("create %s key: %v", a.Role, err)
	}
	return k.Key
}

// Client returns an HTTP client that acts as a (root when a has no role).
func (s *Server) Client(t testing.TB, a api.Actor) *client.Client {
	t.Helper()
	key := s.RootKey
	if a.Role != "" && a.Role != api.RoleRoot {
		key = s.Key(t, a)
	}
	c, err := client.New(s.URL, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
