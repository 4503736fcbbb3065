package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	kavach "github.com/kavachos/kavach-go"
)

// TestServeConfigPrecedence: defaults < YAML file < KAVACH_* environment < flags.
func TestServeConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kavach.yaml")
	writeFile(t, file, `
listen: 0.0.0.0:9000
database: postgres://from-file
trustedProxies: [10.0.0.0/8, 192.168.0.1]
readTimeout: 3s
writeTimeout: 4s
logLevel: warn
`)
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c serveConfig)
	}{
		{"defaults", nil, nil, func(t *testing.T, c serveConfig) {
			if c.Listen != DefaultListen || c.Database != kavach.DefaultDatabase || c.TrustedProxies != nil || c.ReadTimeout != 15*time.Second {
				t.Errorf("%+v", c)
			}
		}},
		{"file", nil, []string{"--config", file}, func(t *testing.T, c serveConfig) {
			if c.Listen != "0.0.0.0:9000" || c.Database != "postgres://from-file" || c.ReadTimeout != 3*time.Second ||
				!slices.Equal(c.TrustedProxies, []string{"10.0.0.0/8", "192.168.0.1"}) || c.LogLevel != "warn" {
				t.Errorf("%+v", c)
			}
		}},
		{"environment over file", map[string]string{"KAVACH_CONFIG": file, "KAVACH_READ_TIMEOUT": "5s",
			"KAVACH_TRUSTED_PROXIES": "127.0.0.1", "KAVACH_DATABASE": "sqlite://env.db"}, nil, func(t *testing.T, c serveConfig) {
			if c.ReadTimeout != 5*time.Second || c.WriteTimeout != 4*time.Second || c.Database != "sqlite://env.db" ||
				!slices.Equal(c.TrustedProxies, []string{"127.0.0.1"}) {
				t.Errorf("%+v", c)
			}
		}},
		{"flags over environment", map[string]string{"KAVACH_LISTEN": "127.0.0.1:7000", "KAVACH_TRUSTED_PROXIES": "127.0.0.1"},
			[]string{"--config", file, "--listen", "127.0.0.1:7001", "--trusted-proxies", "10.1.0.0/16,10.2.0.0/16", "--database", "sqlite://flag.db"},
			func(t *testing.T, c serveConfig) {
				if c.Listen != "127.0.0.1:7001" || c.Database != "sqlite://flag.db" ||
					!slices.Equal(c.TrustedProxies, []string{"10.1.0.0/16", "10.2.0.0/16"}) || c.ReadTimeout != 3*time.Second {
					t.Errorf("%+v", c)
				}
			}},
		{"audit batching and secret caches", map[string]string{"KAVACH_AUDIT_BATCH_WAIT": "7ms", "KAVACH_SECRET_CACHE_SIZE": "50"},
			[]string{"--secret-cache-size", "-1"}, func(t *testing.T, c serveConfig) {
				if c.AuditBatchWait != 7*time.Millisecond || c.SecretCacheSize != -1 {
					t.Errorf("%+v", c)
				}
			}},
		{"--addr is --listen", nil, []string{"--addr", "127.0.0.1:7002"}, func(t *testing.T, c serveConfig) {
			if c.Listen != "127.0.0.1:7002" {
				t.Errorf("%+v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"KAVACH_CONFIG", "KAVACH_DATABASE", "KAVACH_LISTEN", "KAVACH_READ_TIMEOUT", "KAVACH_TRUSTED_PROXIES",
				"KAVACH_AUDIT_BATCH_WAIT", "KAVACH_SECRET_CACHE_SIZE"} {
				t.Setenv(k, tc.env[k])
			}
			c, err := parseServe(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestServeConfigRejectsMistakes(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	writeFile(t, typo, "listne: 127.0.0.1:1\n")
	cases := map[string][]string{
		"unknown YAML key": {"--config", typo},
		"missing file":     {"--config", filepath.Join(dir, "none.yaml")},
		"bad duration":     {"--read-timeout", "soon"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parseServe(t, args...); err == nil {
				t.Fatalf("%v: want an error", args)
			}
		})
	}
	t.Setenv("KAVACH_IDLE_TIMEOUT", "forever")
	if _, err := parseServe(t); err == nil || !strings.Contains(err.Error(), "KAVACH_IDLE_TIMEOUT") {
		t.Fatalf("a bad environment value names its variable: %v", err)
	}
}

// parseServe parses serve's flags as the command line would and resolves the config.
func parseServe(t *testing.T, args ...string) (serveConfig, error) {
	t.Helper()
	g := &globals{}
	var (
		cfg  serveConfig
		file string
	)
	cmd := &cobra.Command{Use: "serve"}
	cmd.Flags().StringVar(&g.database, "database", envOr("KAVACH_DATABASE", kavach.DefaultDatabase), "")
	bindServeFlags(cmd.Flags(), &cfg, &file)
	if err := cmd.ParseFlags(args); err != nil {
		return cfg, err
	}
	err := cfg.resolve(cmd, g, file)
	return cfg, err
}

func TestServeAuditSpoolReachesTheLedgerConfig(t *testing.T) {
	t.Setenv("KAVACH_AUDIT_SPOOL", "/var/lib/kavach/env.spool")
	c, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	if ac, err := c.auditConfig(); err != nil || ac.SpoolFile != "/var/lib/kavach/env.spool" {
		t.Fatalf("from the environment: %q, %v", ac.SpoolFile, err)
	}
	if c, err = parseServe(t, "--audit-spool", "flag.spool"); err != nil || c.AuditSpool != "flag.spool" {
		t.Fatalf("the flag wins: %q, %v", c.AuditSpool, err)
	}
}

func TestServeDecisionTimeout(t *testing.T) {
	t.Setenv("KAVACH_DECISION_TIMEOUT", "250ms")
	if c, err := parseServe(t); err != nil || c.DecisionTimeout != 250*time.Millisecond {
		t.Fatalf("from the environment: %v, %v", c.DecisionTimeout, err)
	}
	if c, err := parseServe(t, "--decision-timeout", "2s"); err != nil || c.DecisionTimeout != 2*time.Second {
		t.Fatalf("the flag wins: %v, %v", c.DecisionTimeout, err)
	}
}
