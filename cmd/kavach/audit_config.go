package main

import (
	"errors"
	"os"
	"strings"

	"github.com/spf13/pflag"

	kavach "github.com/kavachos/kavach-go"
)

// The audit key and witness flags mean the same for serve and for every other command.
const (
	auditKeyUsage     = "base64 Ed25519 seed signing audit checkpoints; every instance and CLI sharing a database needs the same (env KAVACH_AUDIT_SIGNING_KEY)"
	auditKeyFileUsage = "file holding that key (default with SQLite: kavach-audit.key beside the database, created if missing; " +
		"with Postgres it must exist) (env KAVACH_AUDIT_SIGNING_KEY_FILE)"
	auditTrustedUsage = "comma-separated base64 public keys whose audit checkpoints also verify, e.g. keys rotated out (env KAVACH_AUDIT_TRUSTED_KEYS)"
	auditWitnessUsage = "append every signed audit checkpoint to this file as well, one JSON line each, out of the database's reach (env KAVACH_AUDIT_WITNESS)"
)

// auditSettings are the audit key and witness settings of the commands other than serve.
type auditSettings struct {
	signingKey, signingKeyFile, witness string
	trustedKeys                         listValue
}

// bindAuditFlags adds the settings as persistent flags; serve's own flags of the same
// names take their place there.
func bindAuditFlags(fs *pflag.FlagSet, g *globals) {
	fs.StringVar(&g.configFile, "config", "", "YAML file of settings, as for serve; the audit key and witness settings apply to every command (env KAVACH_CONFIG)")
	fs.StringVar(&g.audit.signingKey, "audit-signing-key", "", auditKeyUsage)
	fs.StringVar(&g.audit.signingKeyFile, "audit-signing-key-file", "", auditKeyFileUsage)
	fs.Var(&g.audit.trustedKeys, "audit-trusted-keys", auditTrustedUsage)
	fs.StringVar(&g.audit.witness, "audit-witness", "", auditWitnessUsage)
}

// auditConfig resolves the audit settings as serve does: the YAML file (--config or
// KAVACH_CONFIG), then the environment, then flags. Every process on a database thus
// signs and verifies with the key the server uses.
func (g *globals) auditConfig() (kavach.AuditConfig, error) {
	file, pick, err := g.serveSettings()
	if err != nil {
		return kavach.AuditConfig{}, err
	}
	var trusted listValue
	_ = trusted.Set(pick("audit-trusted-keys", "KAVACH_AUDIT_TRUSTED_KEYS", file.AuditTrustedKeys.String(), g.audit.trustedKeys.String()))
	return kavach.AuditConfig{
		SigningKey:     pick("audit-signing-key", "KAVACH_AUDIT_SIGNING_KEY", file.AuditSigningKey, g.audit.signingKey),
		SigningKeyFile: pick("audit-signing-key-file", "KAVACH_AUDIT_SIGNING_KEY_FILE", file.AuditKeyFile, g.audit.signingKeyFile),
		TrustedKeys:    trusted,
		WitnessFile:    pick("audit-witness", "KAVACH_AUDIT_WITNESS", file.AuditWitness, g.audit.witness),
	}, nil
}

// settingPicker chooses a setting as serve would: the flag if given on the command line,
// else its environment variable, else the YAML file's value.
type settingPicker func(flag, env, fromFile, fromFlag string) string

// serveSettings reads the YAML file serve would read (--config or KAVACH_CONFIG) and
// returns it with the picker of the running command's flags.
func (g *globals) serveSettings() (serveConfig, settingPicker, error) {
	file := defaultServeConfig()
	path := g.configFile
	if path == "" {
		path = os.Getenv("KAVACH_CONFIG")
	}
	if path != "" {
		if err := file.load(path); err != nil {
			return file, nil, err
		}
	}
	pick := func(flag, env, fromFile, fromFlag string) string {
		if g.flags != nil && g.flags.Changed(flag) {
			return fromFlag
		}
		if v := os.Getenv(env); v != "" {
			return v
		}
		return fromFile
	}
	return file, pick, nil
}

// errServeWithoutKey: a server on a shared database must sign with the key every other
// instance and the CLI use, so it does not start without one.
var errServeWithoutKey = errors.New("serving a Postgres database needs the audit signing key that every instance and the CLI share: " +
	"set KAVACH_AUDIT_SIGNING_KEY (or --audit-signing-key, auditSigningKey in the config file), " +
	"or --audit-signing-key-file naming an existing key file (such as a kavach-audit.key an earlier version created); " +
	"`kavach audit keygen` makes a key")

// auditConfig is the audit part of serve's configuration.
func (c *serveConfig) auditConfig() (kavach.AuditConfig, error) {
	if c.AuditSigningKey == "" && c.AuditKeyFile == "" && c.Database != "" && !strings.HasPrefix(c.Database, "sqlite://") {
		return kavach.AuditConfig{}, errServeWithoutKey
	}
	return kavach.AuditConfig{
		Sync: c.AuditSync, BatchWait: c.AuditBatchWait, Mask: c.AuditMask,
		SigningKey: c.AuditSigningKey, SigningKeyFile: c.AuditKeyFile, TrustedKeys: c.AuditTrustedKeys,
		WitnessFile: c.AuditWitness, SpoolFile: c.AuditSpool, KafkaBrokers: c.KafkaBrokers, KafkaTopic: c.KafkaTopic,
	}, nil
}
