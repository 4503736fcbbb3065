package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/client"
	"github.com/kavachos/kavach-go/mcpauth"
	"github.com/kavachos/kavach-go/oidc"
	"github.com/kavachos/kavach-go/service"
)

// options are the command's flags.
type options struct {
	listen, kavachURL, apiKey, issuer string
	kavachListen, database            string
	autoApprove                       bool
}

func main() {
	var o options
	flag.StringVar(&o.listen, "listen", "127.0.0.1:9090", "address of the MCP server (its endpoint is /mcp)")
	flag.StringVar(&o.kavachURL, "kavach", "", "URL of a running Kavach started with --issuer; empty runs Kavach embedded")
	flag.StringVar(&o.apiKey, "api-key", os.Getenv("KAVACH_API_KEY"), "with --kavach: an app (or admin) API key to authorize tool calls with (env KAVACH_API_KEY)")
	flag.StringVar(&o.issuer, "issuer", "", "with --kavach: its OAuth issuer (default <kavach>/oauth)")
	flag.StringVar(&o.kavachListen, "kavach-listen", "127.0.0.1:8080", "embedded: address of Kavach's API and authorization server")
	flag.StringVar(&o.database, "database", "sqlite://kavach-example.db", "embedded: Kavach's database")
	flag.BoolVar(&o.autoApprove, "auto-approve", true, "embedded: the development login approves at once and redirects straight back (headless clients)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stderr); err != nil {
		log.Fatal(err)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, o options, out io.Writer) error {
	var (
		s   *stack
		err error
	)
	if o.kavachURL == "" {
		s, err = startEmbedded(ctx, o, out)
	} else {
		s, err = startExternal(o)
	}
	if err != nil {
		return err
	}
	defer s.close()
	fmt.Fprintf(out, "MCP server: %s\nauthorization server: %s\n", s.resource, s.issuer)
	<-ctx.Done()
	return nil
}

// stack is a running MCP server, and Kavach if embedded.
type stack struct {
	resource, issuer, kavachURL string
	closers                     []func()
}

func (s *stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// serve runs h on ln until the stack closes.
func (s *stack) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("serving failed", "error", err)
		}
	}()
	s.closers = append(s.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
}

// startEmbedded runs Kavach in this process — its API and its authorization server with
// the development login — and the MCP server, which authorizes through the embedded SDK.
func startEmbedded(ctx context.Context, o options, out io.Writer) (*stack, error) {
	kln, err := net.Listen("tcp", o.kavachListen)
	if err != nil {
		return nil, err
	}
	mln, err := net.Listen("tcp", o.listen)
	if err != nil {
		kln.Close()
		return nil, err
	}
	s := &stack{kavachURL: "http://" + kln.Addr().String(), resource: resourceURL(mln.Addr().String())}
	s.issuer = s.kavachURL + "/oauth"
	fail := func(err error) (*stack, error) {
		kln.Close()
		mln.Close()
		s.close()
		return nil, err
	}
	k, err := kavach.Open(ctx, kavach.Config{Database: o.database})
	if err != nil {
		return fail(err)
	}
	s.closers = append(s.closers, func() { k.Close() })
	if key, created, err := k.BootstrapAPIKey(ctx, ""); err != nil {
		return fail(err)
	} else if created {
		fmt.Fprintf(out, "admin API key: %s\n", key)
	}
	p, err := oidc.New(ctx, oidc.Config{
		Issuer: s.issuer, Store: k.Store(), Agents: k.Agents(), Delegations: k.Delegations(), AllowLoopbackMetadata: true,
		Resources: map[string]string{s.resource: ServerName},
		Login:     oidc.LoginConfig{DevLogin: true, DevAutoApprove: o.autoApprove},
	})
	if err != nil {
		return fail(err)
	}
	svc, err := service.New(k, service.Config{Mounts: []service.Mount{{Paths: p.Paths(), Handler: p}}})
	if err != nil {
		return fail(err)
	}
	s.serve(kln, svc.Handler())
	admin := api.Actor{Role: api.RoleAdmin, TenantID: agent.DefaultTenant}
	g, err := mcpauth.New(mcpauth.Config{
		Resource: s.resource, Server: ServerName, Issuer: s.issuer, Authorizer: k, Actor: &admin, ResourceName: "Kavach example",
	})
	if err != nil {
		return fail(err)
	}
	s.serve(mln, Handler(g))
	return s, nil
}

// startExternal runs the MCP server against a Kavach running elsewhere, authorizing tool
// calls over its HTTP API with an API key.
func startExternal(o options) (*stack, error) {
	if o.apiKey == "" {
		return nil, errors.New("--kavach needs --api-key (or KAVACH_API_KEY): an app key of the tenant the OAuth agents live in")
	}
	c, err := client.New(o.kavachURL, o.apiKey)
	if err != nil {
		return nil, err
	}
	issuer := o.issuer
	if issuer == "" {
		issuer = strings.TrimSuffix(o.kavachURL, "/") + "/oauth"
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, err
	}
	s := &stack{kavachURL: o.kavachURL, issuer: issuer, resource: resourceURL(ln.Addr().String())}
	g, err := mcpauth.New(mcpauth.Config{Resource: s.resource, Server: ServerName, Issuer: issuer, Authorizer: c, ResourceName: "Kavach example"})
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.serve(ln, Handler(g))
	return s, nil
}
