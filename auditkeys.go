package kavach

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
)

// ErrNoSigningKey is why an operation that must sign an audit checkpoint (pruning, an
// explicit checkpoint) is refused on a shared database without a configured key.
var ErrNoSigningKey = errors.New("signing an audit checkpoint needs the audit signing key the server uses, and none is configured: " +
	"set KAVACH_AUDIT_SIGNING_KEY (or --audit-signing-key, auditSigningKey in the config file, AuditConfig.SigningKey)")

// errNoSigningKey is ErrNoSigningKey as the API reports it.
var errNoSigningKey = &api.Error{Code: api.CodeInternal, Message: ErrNoSigningKey.Error(), Err: ErrNoSigningKey}

// auditSigner returns the checkpoint signer the configuration names, and the public keys
// verification trusts: the signer's and AuditConfig.TrustedKeys. On a shared database
// without a configured key there is no signer: this process writes no checkpoints and only
// verifies, because a key of its own would sign checkpoints no other process trusts.
func auditSigner(ac AuditConfig, database string, now func() time.Time, log *slog.Logger) (*audit.Signer, []string, error) {
	trusted, err := trustedKeys(ac.TrustedKeys)
	if err != nil {
		return nil, nil, err
	}
	seed, err := signingSeed(ac, database)
	if err != nil || seed == nil {
		if err == nil {
			log.Warn("audit checkpoints are off: no signing key is configured for this shared database (KAVACH_AUDIT_SIGNING_KEY, AuditConfig.SigningKey)")
		}
		return nil, trusted, err
	}
	signer, err := audit.NewSigner(seed, now)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case ac.Witness != nil:
		signer.PublishTo(ac.Witness, log)
	case ac.WitnessFile != "":
		signer.PublishTo(audit.NewFileWitness(ac.WitnessFile), log)
	}
	return signer, append([]string{signer.PublicKey()}, trusted...), nil
}

// signingSeed reads the configured key. SQLite keeps a key file beside the database,
// created on first use, so every process on that file shares it. A shared database
// (Postgres) has no such place: its key must be configured, and a configured key file
// must already exist. nil means no key.
func signingSeed(ac AuditConfig, database string) ([]byte, error) {
	if ac.SigningKey != "" {
		return audit.ParseSeed(ac.SigningKey)
	}
	if database == "" {
		database = DefaultDatabase
	}
	db, local := strings.CutPrefix(database, "sqlite://")
	switch {
	case ac.SigningKeyFile != "" && local:
		return audit.LoadOrCreateKey(ac.SigningKeyFile)
	case ac.SigningKeyFile != "":
		seed, err := audit.LoadKey(ac.SigningKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w (on a shared database every instance and the CLI sign with one key: create the file once, e.g. with `kavach audit keygen`, or set KAVACH_AUDIT_SIGNING_KEY)", err)
		}
		return seed, nil
	case local:
		return audit.LoadOrCreateKey(filepath.Join(filepath.Dir(db), "kavach-audit.key"))
	}
	return nil, nil
}

// trustedKeys checks that each key is a base64 Ed25519 public key.
func trustedKeys(keys []string) ([]string, error) {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if b, err := base64.StdEncoding.DecodeString(k); err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("audit trusted key %q: want a base64 Ed25519 public key (32 bytes)", k)
		}
		out = append(out, k)
	}
	return out, nil
}

// AuditPublicKey returns the base64 public key checkpoints are signed with ("" when this
// instance has no signing key): list it in TrustedKeys after rotating to a new key.
func (k *Kavach) AuditPublicKey() string {
	if k.audit == nil || k.audit.signer == nil {
		return ""
	}
	return k.audit.signer.PublicKey()
}

// AuditWitnessFailures counts checkpoints the witness did not take (logged as they fail).
func (k *Kavach) AuditWitnessFailures() int64 {
	if k.audit == nil || k.audit.signer == nil {
		return 0
	}
	return k.audit.signer.WitnessFailures()
}
