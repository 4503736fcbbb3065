package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/service"
)

// serveConfig is everything `kavach serve` runs with. Each setting comes from, in rising
// precedence: its default, the YAML file (--config or KAVACH_CONFIG), its KAVACH_*
// environment variable, and its flag.
type serveConfig struct {
	Listen             string            `yaml:"listen"`
	Database           string            `yaml:"database"`
	TrustedProxies     listValue         `yaml:"trustedProxies"`
	MaxBodyBytes       int64             `yaml:"maxBodyBytes"`
	ReadTimeout        time.Duration     `yaml:"readTimeout"`
	WriteTimeout       time.Duration     `yaml:"writeTimeout"`
	IdleTimeout        time.Duration     `yaml:"idleTimeout"`
	ShutdownTimeout    time.Duration     `yaml:"shutdownTimeout"`
	PendingApprovalTTL time.Duration     `yaml:"pendingApprovalTTL"`
	WebhookURL         string            `yaml:"approvalWebhookURL"`
	WebhookSecret      string            `yaml:"approvalWebhookSecret"`
	LogLevel           string            `yaml:"logLevel"`
	AuditSync          bool              `yaml:"auditSync"`
	AuditBatchWait     time.Duration     `yaml:"auditBatchWait"`
	SecretCacheSize    int               `yaml:"secretCacheSize"`
	AuditMask          listValue         `yaml:"auditMask"`
	AuditSigningKey    string            `yaml:"auditSigningKey"`
	AuditKeyFile       string            `yaml:"auditSigningKeyFile"`
	AuditTrustedKeys   listValue         `yaml:"auditTrustedKeys"`
	AuditWitness       string            `yaml:"auditWitness"`
	AuditSpool         string            `yaml:"auditSpool"`
	KafkaBrokers       listValue         `yaml:"kafkaBrokers"`
	KafkaTopic         string            `yaml:"kafkaTopic"`
	PolicyDir          string            `yaml:"policyDir"`
	Bundle             string            `yaml:"bundle"`
	BundlePoll         time.Duration     `yaml:"bundlePollInterval"`
	BundleKey          string            `yaml:"bundleVerificationKey"`
	BundleKeyID        string            `yaml:"bundleKeyId"`
	BundleAlg          string            `yaml:"bundleAlg"`
	BundleScope        string            `yaml:"bundleScope"`
	ShadowBundle       string            `yaml:"shadowBundle"`
	ShadowSample       float64           `yaml:"shadowSample"`
	ShadowQueue        int               `yaml:"shadowQueue"`
	Staleness          time.Duration     `yaml:"staleness"`
	DecisionTimeout    time.Duration     `yaml:"decisionTimeout"`
	DecisionMemo       int               `yaml:"decisionMemo"`
	OAuth              oauthConfig       `yaml:",inline"`
	Console            consoleConfig     `yaml:",inline"`
	Telemetry          telemetryConfig   `yaml:",inline"`
	DecisionLog        decisionLogConfig `yaml:",inline"`
	PprofAddr          string            `yaml:"pprofAddr"`
}

// DefaultListen is where `kavach serve` listens unless told otherwise: loopback only.
const DefaultListen = "127.0.0.1:8080"

func defaultServeConfig() serveConfig {
	return serveConfig{
		Listen: DefaultListen, Database: kavach.DefaultDatabase, MaxBodyBytes: service.DefaultMaxBodyBytes,
		ReadTimeout: service.DefaultReadTimeout, WriteTimeout: service.DefaultWriteTimeout,
		IdleTimeout: service.DefaultIdleTimeout, ShutdownTimeout: service.DefaultShutdownTimeout,
		PendingApprovalTTL: 15 * time.Minute, LogLevel: "info",
	}
}

// serveFlag ties a flag to its environment variable; the flag's value is bound to a field
// of serveConfig, and the environment is parsed by the same Set, so both read alike.
type serveFlag struct{ name, env string }

var serveFlags = append(append([]serveFlag{
	{"listen", "KAVACH_LISTEN"}, {"trusted-proxies", "KAVACH_TRUSTED_PROXIES"},
	{"max-body-bytes", "KAVACH_MAX_BODY_BYTES"}, {"read-timeout", "KAVACH_READ_TIMEOUT"},
	{"write-timeout", "KAVACH_WRITE_TIMEOUT"}, {"idle-timeout", "KAVACH_IDLE_TIMEOUT"},
	{"shutdown-timeout", "KAVACH_SHUTDOWN_TIMEOUT"}, {"pending-approval-ttl", "KAVACH_PENDING_APPROVAL_TTL"},
	{"approval-webhook-url", "KAVACH_APPROVAL_WEBHOOK_URL"}, {"approval-webhook-secret", "KAVACH_APPROVAL_WEBHOOK_SECRET"},
	{"log-level", "KAVACH_LOG_LEVEL"}, {"audit-sync", "KAVACH_AUDIT_SYNC"}, {"audit-mask", "KAVACH_AUDIT_MASK"},
	{"audit-signing-key", "KAVACH_AUDIT_SIGNING_KEY"}, {"audit-signing-key-file", "KAVACH_AUDIT_SIGNING_KEY_FILE"},
	{"audit-trusted-keys", "KAVACH_AUDIT_TRUSTED_KEYS"}, {"audit-witness", "KAVACH_AUDIT_WITNESS"},
	{"audit-spool", "KAVACH_AUDIT_SPOOL"},
	{"kafka-brokers", "KAVACH_KAFKA_BROKERS"}, {"kafka-topic", "KAVACH_KAFKA_TOPIC"},
	{"policy-dir", "KAVACH_POLICY_DIR"}, {"bundle", "KAVACH_BUNDLE"}, {"bundle-poll-interval", "KAVACH_BUNDLE_POLL_INTERVAL"},
	{"bundle-verification-key", "KAVACH_BUNDLE_VERIFICATION_KEY"}, {"bundle-key-id", "KAVACH_BUNDLE_KEY_ID"},
	{"bundle-alg", "KAVACH_BUNDLE_ALG"}, {"bundle-scope", "KAVACH_BUNDLE_SCOPE"},
	{"shadow-bundle", "KAVACH_SHADOW_BUNDLE"}, {"shadow-sample", "KAVACH_SHADOW_SAMPLE"}, {"shadow-queue", "KAVACH_SHADOW_QUEUE"},
	{"staleness", "KAVACH_STALENESS"}, {"decision-timeout", "KAVACH_DECISION_TIMEOUT"}, {"decision-memo", "KAVACH_DECISION_MEMO"}, {"pprof-addr", "KAVACH_PPROF_ADDR"},
	{"audit-batch-wait", "KAVACH_AUDIT_BATCH_WAIT"}, {"secret-cache-size", "KAVACH_SECRET_CACHE_SIZE"},
}, telemetryFlags...), decisionLogFlags...)

func bindServeFlags(fs *pflag.FlagSet, c *serveConfig, configFile *string) {
	d := defaultServeConfig()
	fs.StringVar(&c.Listen, "listen", d.Listen, "address to listen on, host:port (env KAVACH_LISTEN)")
	fs.StringVar(&c.Listen, "addr", d.Listen, "same as --listen")
	fs.Var(&c.TrustedProxies, "trusted-proxies", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (env KAVACH_TRUSTED_PROXIES)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", d.MaxBodyBytes, "largest request body accepted (env KAVACH_MAX_BODY_BYTES)")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", d.ReadTimeout, "time to read a request (env KAVACH_READ_TIMEOUT)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", d.WriteTimeout, "time to write a response (env KAVACH_WRITE_TIMEOUT)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", d.IdleTimeout, "how long an idle keep-alive connection stays open (env KAVACH_IDLE_TIMEOUT)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", d.ShutdownTimeout, "how long to drain requests on shutdown (env KAVACH_SHUTDOWN_TIMEOUT)")
	fs.DurationVar(&c.PendingApprovalTTL, "pending-approval-ttl", d.PendingApprovalTTL, "how long an approval request waits for a human (env KAVACH_PENDING_APPROVAL_TTL)")
	fs.StringVar(&c.WebhookURL, "approval-webhook-url", "", "announce approval requests to this URL (env KAVACH_APPROVAL_WEBHOOK_URL)")
	fs.StringVar(&c.WebhookSecret, "approval-webhook-secret", "", "HMAC secret for the approval webhook (env KAVACH_APPROVAL_WEBHOOK_SECRET)")
	fs.StringVar(&c.LogLevel, "log-level", d.LogLevel, "debug, info, warn or error (env KAVACH_LOG_LEVEL)")
	fs.BoolVar(&c.AuditSync, "audit-sync", false, "answer authorize only after its audit event is committed (env KAVACH_AUDIT_SYNC)")
	fs.DurationVar(&c.AuditBatchWait, "audit-batch-wait", audit.DefaultBatchWait, "how long the audit writer waits for more events before committing a batch; negative never waits (env KAVACH_AUDIT_BATCH_WAIT)")
	fs.IntVar(&c.SecretCacheSize, "secret-cache-size", kavach.DefaultSecretCacheSize, "agent tokens, and API keys, kept resolved in memory; negative turns the caches off (env KAVACH_SECRET_CACHE_SIZE)")
	fs.Var(&c.AuditMask, "audit-mask", "comma-separated argument names never stored in the audit ledger (env KAVACH_AUDIT_MASK)")
	fs.StringVar(&c.AuditSigningKey, "audit-signing-key", "", auditKeyUsage)
	fs.StringVar(&c.AuditKeyFile, "audit-signing-key-file", "", auditKeyFileUsage)
	fs.Var(&c.AuditTrustedKeys, "audit-trusted-keys", auditTrustedUsage)
	fs.StringVar(&c.AuditWitness, "audit-witness", "", auditWitnessUsage)
	fs.StringVar(&c.AuditSpool, "audit-spool", "", "file where a shutdown that cannot commit queued audit events in time writes them, for the next start to commit first (default kavach-audit.spool beside a SQLite database, or in the working directory) (env KAVACH_AUDIT_SPOOL)")
	fs.Var(&c.KafkaBrokers, "kafka-brokers", "comma-separated Kafka brokers: stream the audit ledger there (env KAVACH_KAFKA_BROKERS)")
	fs.StringVar(&c.KafkaTopic, "kafka-topic", "", "Kafka topic for audit events (default kavach.audit) (env KAVACH_KAFKA_TOPIC)")
	fs.StringVar(&c.PolicyDir, "policy-dir", "", "custom rules (package kavach.custom) and data, laid out under kavach/custom/ (env KAVACH_POLICY_DIR)")
	fs.StringVar(&c.Bundle, "bundle", "", "policy bundle: a .tar.gz file, a directory or an http(s) URL polled for new revisions (env KAVACH_BUNDLE)")
	fs.DurationVar(&c.BundlePoll, "bundle-poll-interval", 30*time.Second, "how often an HTTP bundle is polled (env KAVACH_BUNDLE_POLL_INTERVAL)")
	bindBundleKeyFlags(fs, &c.BundleKey, &c.BundleKeyID, &c.BundleAlg, &c.BundleScope)
	fs.StringVar(&c.ShadowBundle, "shadow-bundle", "", "a candidate bundle (file, directory or URL, verified like --bundle) evaluated beside the active revision on a sample of calls, off the request path; it never changes an answer (env KAVACH_SHADOW_BUNDLE)")
	fs.Float64Var(&c.ShadowSample, "shadow-sample", 1, "fraction of calls the shadow bundle evaluates, in (0, 1] (env KAVACH_SHADOW_SAMPLE)")
	fs.IntVar(&c.ShadowQueue, "shadow-queue", engine.DefaultShadowQueue, "calls waiting for the shadow bundle; more are dropped and counted (env KAVACH_SHADOW_QUEUE)")
	fs.DurationVar(&c.Staleness, "staleness", kavach.DefaultStaleness, "how long to decide from compiled state after losing the database's change feed, before failing closed (env KAVACH_STALENESS)")
	fs.DurationVar(&c.DecisionTimeout, "decision-timeout", engine.DefaultDecisionTimeout, "how long one decision's policy evaluation may run before it fails closed with ENGINE_ERROR (env KAVACH_DECISION_TIMEOUT)")
	fs.IntVar(&c.DecisionMemo, "decision-memo", engine.DefaultDecisionMemo, "how many policy answers are remembered for calls that repeat, reused only while nothing they depend on can change; -1 turns it off (env KAVACH_DECISION_MEMO)")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "serve Go's profiling endpoints (/debug/pprof/) on this separate address, host:port; off when empty (env KAVACH_PPROF_ADDR)")
	bindOAuthFlags(fs, &c.OAuth)
	bindConsoleFlags(fs, &c.Console)
	bindTelemetryFlags(fs, &c.Telemetry)
	bindDecisionLogFlags(fs, &c.DecisionLog)
	fs.StringVar(configFile, "config", "", "YAML file with any of these settings (env KAVACH_CONFIG)")
	_ = fs.MarkHidden("addr")
}

// resolve fills c in precedence order. The flags have already been parsed into c; the ones
// set on the command line are remembered, then re-applied last.
func (c *serveConfig) resolve(cmd *cobra.Command, g *globals, configFile string) error {
	fs := cmd.Flags()
	changed := map[string]string{}
	fs.Visit(func(f *pflag.Flag) { changed[f.Name] = f.Value.String() })

	*c = defaultServeConfig()
	if configFile == "" {
		configFile = os.Getenv("KAVACH_CONFIG")
	}
	if configFile != "" {
		if err := c.load(configFile); err != nil {
			return err
		}
	}
	for _, f := range serveFlags {
		if _, onCommandLine := changed[f.name]; onCommandLine {
			continue // the command line wins, and a repeatable flag must not add to the environment
		}
		if v, ok := os.LookupEnv(f.env); ok && v != "" {
			if err := fs.Set(f.name, v); err != nil {
				return fmt.Errorf("%s: %w", f.env, err)
			}
		}
	}
	for name, v := range changed {
		if fs.Lookup(name) != nil && name != "config" && name != "database" {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("--%s: %w", name, err)
			}
		}
	}
	// --database is shared by every command; its default already reads KAVACH_DATABASE.
	if fs.Changed("database") || os.Getenv("KAVACH_DATABASE") != "" {
		c.Database = g.database
	}
	return nil
}

// load reads a YAML file; an unknown key is an error, so a typo cannot go unnoticed.
func (c *serveConfig) load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// listValue is a comma-separated list flag whose every Set replaces the list, so a value
// from the environment and one from the command line do not add up.
type listValue []string

func (l *listValue) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Type() string   { return "list" }
