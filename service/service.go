// Package service is Kavach's HTTP API on Echo. Handlers are thin: they bind and validate a
// request, call the facade as the authenticated caller, and leave errors to one mapping
// into application/problem+json (RFC 9457). No business logic lives here.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/clientip"
	"github.com/kavachos/kavach-go/lifecycle"
)

// Facade is what the service needs from Kavach: the API every caller speaks, plus the
// server-side operations of authenticating an API key and probing readiness. The embedded
// *kavach.Kavach implements it.
type Facade interface {
	api.Kavach
	// AuthenticateAPIKey returns the actor a presented "kva_" key acts as, or an
	// unauthenticated error.
	AuthenticateAPIKey(ctx context.Context, key string) (api.Actor, error)
	// Ready reports whether the backing store answers and every part decisions depend on
	// is OK; a part that is not is a *lifecycle.StateError.
	Ready(ctx context.Context) error
	// Parts reports each long-running part's state, for /readyz and /metrics.
	Parts() map[string]lifecycle.Status
}

// Config tunes the HTTP server. Zero values take the defaults below.
type Config struct {
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose X-Forwarded-For
	// entries are believed when an agent authorizes itself with its own token, and whose
	// X-Forwarded-Proto names the scheme of the AuthZEN discovery document.
	TrustedProxies []string
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout bound each connection
	// (defaults 5s, 15s, 30s, 120s).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds how long Serve waits for requests in flight to finish once its
	// context ends (default 15s).
	ShutdownTimeout time.Duration
	// Logger receives request errors and lifecycle logs; nil means slog.Default().
	Logger *slog.Logger
	// Collectors are extra Prometheus collectors served on /metrics next to the service's
	// own, such as the audit pipeline's queue depth and relay lag.
	Collectors []prometheus.Collector
	// Mounts are handlers served beside the API under paths of their own, such as the
	// OAuth authorization server; they are outside the /v1 contract.
	Mounts []Mount
}

// Defaults for Config.
const (
	DefaultMaxBodyBytes      = 1 << 20
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 15 * time.Second
)

// Limits on a request's head: a request URI longer than MaxURIBytes is 414, a request line
// and headers together over MaxHeaderBytes are 431; both answer problem+json.
const (
	MaxURIBytes    = 8 << 10
	MaxHeaderBytes = 64 << 10
)

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	set(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	set(&c.ReadTimeout, DefaultReadTimeout)
	set(&c.WriteTimeout, DefaultWriteTimeout)
	set(&c.IdleTimeout, DefaultIdleTimeout)
	set(&c.ShutdownTimeout, DefaultShutdownTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is the HTTP API over one facade.
type Server struct {
	k         Facade
	cfg       Config
	log       *slog.Logger
	echo      *echo.Echo
	ips       *clientip.Resolver
	metrics   *metrics
	routes    []Route
	known     map[string]bool // registered route paths, Echo form, for metric labels
	endpoints map[string]bool // mounts' exact paths that name their spans
	draining  atomic.Bool
}

// Route is one registered route, its path in OpenAPI form ("/v1/agents/{id}").
type Route struct {
	Method string
	Path   string
}

// New builds the server and registers every route.
func New(k Facade, cfg Config) (*Server, error) {
	cfg.defaults()
	ips, err := clientip.New(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(append([]prometheus.Collector{partsCollector{k}}, cfg.Collectors...))
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{k: k, cfg: cfg, log: cfg.Logger, echo: e, ips: ips, metrics: m, known: map[string]bool{}, endpoints: map[string]bool{}}
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe, s.recoverPanics)
	s.register()
	s.mount()
	return s, nil
}

// Handler returns the server as an http.Handler, for tests and embedding; with tracing on
// it opens each request's server span.
func (s *Server) Handler() http.Handler { return s.handler() }

// Routes lists the registered routes.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// HTTPServer returns an http.Server for the handler with the configured timeouts and
// header limit. Serve also answers net/http's own refusals (431 and other malformed
// requests) as problem+json; an http.Server run otherwise answers them in text/plain.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Serve answers requests on ln until ctx ends, then stops accepting connections, marks
// itself not ready and waits up to ShutdownTimeout for requests in flight to finish. The
// caller closes the facade after Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := s.HTTPServer()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(problemListener{ln}) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: draining requests in flight", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
