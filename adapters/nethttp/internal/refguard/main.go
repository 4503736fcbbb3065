// Command refguard serves two routes behind the net/http adapter, asking a running Kavach
// with an app key, so that the TypeScript adapters' tests can compare their answers with
// the Go adapter's, live:
//
//	GET  /repos/{id}
//	POST /repos/{id}/merge
//
// A request let through is answered 200 with {"code", "grant", "sawAuthorization"}; a
// refused one with the adapter's refusal. On start it prints one line, "listening
// http://ADDR", and serves until it is interrupted or terminated.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/client"
	"github.com/kavachos/kavach-go/mcpauth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "refguard:", err)
		os.Exit(2)
	}
}

// proxies collects a repeatable --trusted-proxy.
type proxies []string

func (p *proxies) String() string { return strings.Join(*p, ",") }

func (p *proxies) Set(v string) error {
	*p = append(*p, v)
	return nil
}

// options are the command line.
type options struct {
	kavach, apiKey, listen, issuer, resource string
	trusted                                  proxies
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("refguard", flag.ContinueOnError)
	fs.StringVar(&o.kavach, "kavach", "", "URL of the running Kavach")
	fs.StringVar(&o.apiKey, "api-key", "", "an app API key (kva_…)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to serve on")
	fs.Var(&o.trusted, "trusted-proxy", "an address or CIDR whose X-Forwarded-For is believed (repeatable)")
	fs.StringVar(&o.issuer, "issuer", "", "Kavach's OAuth issuer: accept its access tokens for --resource")
	fs.StringVar(&o.resource, "resource", "", "this API's resource URI, the audience of the access tokens accepted")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.kavach == "" || o.apiKey == "":
		return o, errors.New("--kavach and --api-key are required")
	case (o.issuer == "") != (o.resource == ""):
		return o, errors.New("--issuer and --resource go together")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	h, err := handler(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if _, err := fmt.Fprintf(stdout, "listening http://%s\n", ln.Addr()); err != nil {
		srv.Close()
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// handler is the ServeMux with each route behind the Guard.
func handler(o options) (http.Handler, error) {
	c, err := client.New(o.kavach, o.apiKey, client.WithUserAgent("kavach-refguard"))
	if err != nil {
		return nil, err
	}
	cfg := nethttp.Config{Authorizer: c, TrustedProxies: o.trusted}
	if o.issuer != "" {
		// Only VerifyAccessToken is used; Server and Authorizer are required all the same.
		cfg.AccessTokens, err = mcpauth.New(mcpauth.Config{Resource: o.resource, Issuer: o.issuer, Server: "http", Authorizer: c})
		if err != nil {
			return nil, err
		}
	}
	g, err := nethttp.New(cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	for _, pattern := range []string{"GET /repos/{id}", "POST /repos/{id}/merge"} {
		mux.Handle(pattern, g.Middleware(http.HandlerFunc(reply)))
	}
	return mux, nil
}

// reply answers a request the Guard let through with what the handler found.
func reply(w http.ResponseWriter, r *http.Request) {
	var seen struct {
		Code             string `json:"code"`
		Grant            string `json:"grant"`
		SawAuthorization bool   `json:"sawAuthorization"`
	}
	if d, ok := nethttp.DecisionFrom(r.Context()); ok {
		seen.Code, seen.Grant = string(d.Code), d.Grant
	}
	seen.SawAuthorization = r.Header.Get("Authorization") != ""
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(seen)
}
