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

	"github.com/spf13/cobra"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/service"
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
supplies it instead. Settings come from flags, KAVACH_* environment variables and an optional
YAML file (--config), in that order of precedence.`,
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

// serve runs the service until ctx ends, then drains requests and closes Kavach.
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
	k, err := kavach.Open(ctx, kavach.Config{
		Database: cfg.Database, Logger: log, PendingApprovalTTL: cfg.PendingApprovalTTL, Audit: ac,
		ApprovalWebhook: webhook.Config{URL: cfg.WebhookURL, Secret: cfg.WebhookSecret},
		Staleness:       cfg.Staleness, SecretCacheSize: cfg.SecretCacheSize,
		Policy: kavach.PolicyConfig{
			Dir: cfg.PolicyDir, Bundle: cfg.Bundle, PollInterval: cfg.BundlePoll,
			VerificationKey: cfg.BundleKey, KeyID: cfg.BundleKeyID,
		},
	})
	if err != nil {
		return err
	}
	err = serveWith(ctx, k, cfg, log, stderr)
	if cerr := k.Close(); cerr != nil {
		log.Error("closing", "error", cerr)
	}
	return err
}

// serveWith serves the API over an open Kavach until ctx ends.
func serveWith(ctx context.Context, k *kavach.Kavach, cfg serveConfig, log *slog.Logger, stderr io.Writer) error {
	if err := bootstrap(ctx, k, log, stderr); err != nil {
		return err
	}
	mounts, err := oauthMounts(ctx, k, cfg, log)
	if err != nil {
		return err
	}
	consoleMount, err := consoleMounts(ctx, k, cfg, log)
	if err != nil {
		return err
	}
	mounts = append(mounts, consoleMount...)
	srv, err := service.New(k, service.Config{
		Mounts:         mounts,
		TrustedProxies: cfg.TrustedProxies, MaxBodyBytes: cfg.MaxBodyBytes, ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout, ShutdownTimeout: cfg.ShutdownTimeout, Logger: log,
		Collectors: append(service.AuditCollectors(k), service.PolicyCollectors(k.Engine())...),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	if cfg.PprofAddr != "" {
		stop, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}
	log.Info("listening", "url", "http://"+ln.Addr().String(), "database", redacted(cfg.Database))
	return srv.Serve(ctx, ln)
}

// bootstrap gives a database without API keys its root key, printed once.
func bootstrap(ctx context.Context, k *kavach.Kavach, log *slog.Logger, stderr io.Writer) error {
	supplied := os.Getenv("KAVACH_BOOTSTRAP_ADMIN_KEY")
	if supplied != "" && !agent.WellFormedAPIKey(supplied) {
		return errors.New("KAVACH_BOOTSTRAP_ADMIN_KEY is not a well-formed API key: use one minted by Kavach (kva_…, 53 characters)")
	}
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
	}
	return nil
}

// redacted hides a password in a database URL.
func redacted(database string) string {
	u, err := url.Parse(database)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
