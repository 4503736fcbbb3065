// Command kavach-envoy-authz is an Envoy external authorization service (ext_authz, v3
// gRPC) that asks a running Kavach about every request, with an app API key.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"

	"github.com/kavachos/kavach-go/adapters/envoy"
	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/client"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9191", "address of the gRPC service Envoy's ext_authz filter calls")
	kavachURL := flag.String("kavach", os.Getenv("KAVACH_URL"), "URL of the running Kavach (env KAVACH_URL)")
	apiKey := flag.String("api-key", os.Getenv("KAVACH_API_KEY"), "an app API key (env KAVACH_API_KEY)")
	trusted := flag.String("trusted-proxies", "", "comma-separated addresses or CIDRs whose x-forwarded-for is believed")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *kavachURL, *apiKey, *trusted); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, listen, kavachURL, apiKey, trusted string) error {
	if kavachURL == "" || apiKey == "" {
		return errors.New("--kavach and --api-key are required")
	}
	c, err := client.New(kavachURL, apiKey, client.WithUserAgent("kavach-envoy-authz"))
	if err != nil {
		return err
	}
	var proxies []string
	if trusted != "" {
		proxies = strings.Split(trusted, ",")
	}
	s, err := envoy.New(envoy.Config{Config: nethttp.Config{Authorizer: c, TrustedProxies: proxies}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	g := grpc.NewServer()
	authv3.RegisterAuthorizationServer(g, s)
	go func() {
		<-ctx.Done()
		g.GracefulStop()
	}()
	log.Printf("ext_authz service at %s, asking %s", ln.Addr(), kavachURL)
	return g.Serve(ln)
}
