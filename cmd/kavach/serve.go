package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/service"
	"github.com/kavachos/kavach-go/telemetry"
	"github.com/kavachos/kavach-go/webhook"
)

func serveCmd(g *globals) *cobra.Command {
	var (
		cfg        serveConfig
		configFile string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API (SQLite kavach.db by default)",
		Long: `Run the HTTP API. On the first start of a database without API keys, a root key is
created and printed once on stderr as "admin API key: kva_…"; KAVACH_BOOTSTRAP_ADMIN_KEY=kva_…
supplies it instead (kavach api-key mint makes one). Settings come from flags, KAVACH_*
environment variables and an optional YAML file (--config), in that order of precedence.

The listen address is bound before the database is opened. On a SQLite file, serve keeps
FILE.serve beside it while it runs (its pid and address, locked), so that a CLI changing
the same file can say that a server uses it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.resolve(cmd, g, configFile); err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	bindServeFlags(cmd.Flags(), &cfg, &configFile)
	return cmd
}

// serve runs the service until ctx ends, then drains requests and closes Kavach. The
// listen address is bound first: a server that cannot listen leaves nothing behind — no
// database file, no root key.
func serve(ctx context.Context, cfg serveConfig, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	ac, err := cfg.auditConfig()
	if err != nil {
		return err
	}
	supplied, err := suppliedBootstrapKey()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	tc := cfg.Telemetry.config()
	tc.Logger = log
	stopTracing, err := telemetry.Setup(ctx, tc)
	if err != nil {
		ln.Close()
		return err
	}
	defer flushTraces(stopTracing, log)
	if cfg.PprofAddr != "" {
		stop, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}
	k, err := kavach.Open(ctx, kavach.Config{
		Database: cfg.Database, Logger: log, PendingApprovalTTL: cfg.PendingApprovalTTL, Audit: ac,
		ApprovalWebhook: webhook.Config{URL: cfg.WebhookURL, Secret: cfg.WebhookSecret},
		Staleness:       cfg.Staleness, SecretCacheSize: cfg.SecretCacheSize, DecisionTimeout: cfg.DecisionTimeout,
		DecisionMemo: cfg.DecisionMemo,
		Policy:       cfg.policyConfig(),
		DecisionLog:  cfg.DecisionLog.config(),
	})
	if err != nil {
		ln.Close()
		return err
	}
	release := holdServeMarker(cfg.Database, "http://"+ln.Addr().String(), log)
	err = serveWith(ctx, k, ln, cfg, supplied, log, stderr)
	if cerr := k.Close(); cerr != nil {
		log.Error("closing", "error", cerr)
	}
	release()
	return err
}

// flushTraces sends the spans still queued before the process ends.
func flushTraces(stop func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		log.Warn("flushing traces", "error", err)
	}
}

// serveWith serves the API on ln over an open Kavach until ctx ends.
func serveWith(ctx context.Context, k *kavach.Kavach, ln net.Listener, cfg serveConfig, supplied string, log *slog.Logger, stderr io.Writer) error {
	srv, err := newService(ctx, k, cfg, supplied, log, stderr)
	if err != nil {
		ln.Close()
		return err
	}
	log.Info("listening", "url", "http://"+ln.Addr().String(), "database", redacted(cfg.Database))
	return srv.Serve(ctx, ln)
}

// newService bootstraps the root key and builds the HTTP service with its mounts.
func newService(ctx context.Context, k *kavach.Kavach, cfg serveConfig, supplied string, log *slog.Logger, stderr io.Writer) (*service.Server, error) {
	if err := bootstrap(ctx, k, cfg.Database, supplied, log, stderr); err != nil {
		return nil, err
	}
	mounts, err := oauthMounts(ctx, k, cfg, log)
	if err != nil {
		return nil, err
	}
	consoleMount, err := consoleMounts(ctx, k, cfg, log)
	if err != nil {
		return nil, err
	}
	mounts = append(mounts, consoleMount...)
	return service.New(k, service.Config{
		Mounts:         mounts,
		TrustedProxies: cfg.TrustedProxies, MaxBodyBytes: cfg.MaxBodyBytes, ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout, ShutdownTimeout: cfg.ShutdownTimeout, Logger: log,
		Collectors: append(append(service.AuditCollectors(k), service.PolicyCollectors(k.Engine())...),
			service.DecisionLogCollectors(k)...),
	})
}

// suppliedBootstrapKey is KAVACH_BOOTSTRAP_ADMIN_KEY, refused before anything starts unless
// it is a key as Kavach mints them.
func suppliedBootstrapKey() (string, error) {
	supplied := os.Getenv("KAVACH_BOOTSTRAP_ADMIN_KEY")
	if supplied != "" && !agent.WellFormedAPIKey(supplied) {
		return "", errors.New("KAVACH_BOOTSTRAP_ADMIN_KEY is not a well-formed API key (kva_…, 53 characters with a checksum): " +
			"`kavach api-key mint` prints a fresh one without touching a database, e.g. export KAVACH_BOOTSTRAP_ADMIN_KEY=$(kavach api-key mint)")
	}
	return supplied, nil
}

// bootstrap gives a database without API keys its root key, printed once unless supplied.
// A database that has keys keeps them; the log then says how to make a new root key, in case
// it was lost: on the database directly, where the CLI acts as root.
func bootstrap(ctx context.Context, k *kavach.Kavach, database, supplied string, log *slog.Logger, stderr io.Writer) error {
	secret, created, err := k.BootstrapAPIKey(ctx, supplied)
	switch {
	case err != nil:
		return err
	case created && supplied == "":
		fmt.Fprintf(stderr, "admin API key: %s\n", secret)
	case created:
		log.Info("root API key stored from KAVACH_BOOTSTRAP_ADMIN_KEY")
	case supplied != "":
		if _, err := k.AuthenticateAPIKey(ctx, supplied); err != nil {
			log.Warn("KAVACH_BOOTSTRAP_ADMIN_KEY ignored: the database already has API keys, and not this one")
		}
	default:
		log.Info("the database has API keys, so none is printed; if the root key is lost, make a new one on the database directly",
			"command", "kavach --database "+shellQuote(redacted(database))+" api-key create --role root --name recovery")
	}
	return nil
}

// shellQuote quotes s for a POSIX shell unless it needs no quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/:.,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// redacted hides a password in a database URL.
func redacted(database string) string {
	u, err := url.Parse(database)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
