package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kavachos/kavach-go/adapters/mcpgateway"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/client"
	"github.com/kavachos/kavach-go/telemetry"
)

// gatewayOptions are the gateway command's flags.
type gatewayOptions struct {
	upstream, server, listen, resource string
	kavachURL, issuer                  string
	trustedProxies                     []string
	dpopNonces                         bool
	dpopNonceSecret                    string
	telemetry                          telemetryConfig
}

func gatewayCmd(g *globals) *cobra.Command {
	var o *gatewayOptions
	cmd := &cobra.Command{
		Use:   "gateway --upstream URL --server NAME",
		Short: "Guard any Streamable-HTTP MCP server: every tool call authorized by Kavach",
		Long: `Run a reverse proxy in front of an MCP server. Agents authenticate with their kv_ token or
a Kavach OAuth access token; every tools/call is authorized as "call" on mcp:<server>:<tool>
with its arguments; tools/list shows only the tools the agent may call; the client's
credentials are never forwarded. With --kavach the gateway asks a running Kavach (with an app
or admin --api-key); without it, it opens --database itself.

A caller's W3C trace context (a tools/call's params._meta, or the traceparent header) is
continued: the call is authorized in that trace and the upstream receives it. With an OTLP
endpoint configured (--otel-endpoint or the OTEL_* variables) the gateway exports its spans.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGateway(cmd.Context(), g, *o, cmd.ErrOrStderr())
		},
	}
	o = bindGatewayFlags(cmd.Flags())
	_ = cmd.MarkFlagRequired("upstream")
	_ = cmd.MarkFlagRequired("server")
	return cmd
}

// bindGatewayFlags binds the gateway's flags to options it returns; the DPoP nonce secret
// comes from KAVACH_DPOP_NONCE_SECRET only, never a flag, so it stays out of process
// listings.
func bindGatewayFlags(f *pflag.FlagSet) *gatewayOptions {
	o := &gatewayOptions{dpopNonceSecret: os.Getenv("KAVACH_DPOP_NONCE_SECRET")}
	f.StringVar(&o.upstream, "upstream", "", "the MCP endpoint of the server to guard (http://127.0.0.1:9090/mcp)")
	f.StringVar(&o.server, "server", "", "the server's name in Kavach resources: mcp:<server>:<tool>")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8090", "address to listen on")
	f.StringVar(&o.resource, "resource", "", "the gateway's MCP endpoint as clients reach it, the audience of access tokens (default http://<listen>/mcp)")
	f.StringVar(&o.kavachURL, "kavach", os.Getenv("KAVACH_URL"), "URL of a running Kavach to ask (env KAVACH_URL); empty opens --database")
	f.StringVar(&o.issuer, "issuer", "", "accept access tokens of this Kavach OAuth issuer (default <kavach>/oauth; embedded: none, agent tokens only)")
	f.StringSliceVar(&o.trustedProxies, "trusted-proxy", nil, "address or CIDR of a proxy whose X-Forwarded-For is believed (repeatable)")
	bindTelemetryFlags(f, &o.telemetry)
	f.BoolVar(&o.dpopNonces, "dpop-nonces", os.Getenv("KAVACH_DPOP_NONCES") == "true", "require server-provided nonces in the DPoP proofs of DPoP-bound tokens (RFC 9449 section 9); gateways behind one load balancer share KAVACH_DPOP_NONCE_SECRET (env KAVACH_DPOP_NONCES)")
	return o
}

// config is the gateway's configuration. Gateways behind one load balancer that require
// DPoP nonces share KAVACH_DPOP_NONCE_SECRET; without it each makes its own, and a nonce is
// good only where it was handed out.
func (o gatewayOptions) config(k mcpgateway.Kavach, actor *api.Actor) mcpgateway.Config {
	c := mcpgateway.Config{
		Upstream: o.upstream, Server: o.server, Resource: o.resource, Issuer: o.issuer,
		Kavach: k, Actor: actor, TrustedProxies: o.trustedProxies, DPoPNonces: o.dpopNonces,
	}
	if o.dpopNonceSecret != "" {
		c.DPoPNonceSecret = []byte(o.dpopNonceSecret)
	}
	return c
}

// runGateway serves until ctx ends.
func runGateway(ctx context.Context, g *globals, o gatewayOptions, stderr io.Writer) error {
	tc := o.telemetry.config()
	if tc.ServiceName == "" && os.Getenv("OTEL_SERVICE_NAME") == "" {
		tc.ServiceName = "kavach-gateway"
	}
	tc.Logger = slog.Default() // where the gateway's own logs go
	shutdownTracing, err := telemetry.Setup(ctx, tc)
	if err != nil {
		return err
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(flush)
	}()
	var (
		k     mcpgateway.Kavach
		actor *api.Actor
	)
	if o.kavachURL == "" {
		kv, _, err := g.open(ctx)
		if err != nil {
			return err
		}
		defer kv.Close()
		k, actor = kv, &api.Root
	} else {
		if g.apiKey == "" {
			return errors.New("--kavach needs an app or admin API key: --api-key kva_… or KAVACH_API_KEY")
		}
		c, err := client.New(o.kavachURL, g.apiKey, client.WithUserAgent("kavach-gateway"))
		if err != nil {
			return err
		}
		k = c
		if o.issuer == "" {
			o.issuer = strings.TrimSuffix(o.kavachURL, "/") + "/oauth"
		}
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	if o.resource == "" {
		o.resource = "http://" + ln.Addr().String() + "/mcp"
	}
	gw, err := mcpgateway.New(o.config(k, actor))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "MCP gateway for %s (%s) at %s\n", o.server, o.upstream, o.resource)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
