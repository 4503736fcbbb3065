package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kavachos/kavach-go/store"
)

// Signer signs chain heads with an Ed25519 key. A checkpoint lets Verify detect that the
// newest events were deleted (truncation), which a hash chain alone cannot show. With a
// witness, every checkpoint it stores also leaves the database.
type Signer struct {
	key ed25519.PrivateKey
	now func() time.Time

	witness         Witness
	log             *slog.Logger
	witnessFailures atomic.Int64
}

// witnessTimeout bounds one publication to a witness.
const witnessTimeout = 10 * time.Second

// NewSigner signs with the key derived from a 32-byte seed.
func NewSigner(seed []byte, now func() time.Time) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit signing key: want a %d-byte Ed25519 seed, got %d bytes", ed25519.SeedSize, len(seed))
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{key: ed25519.NewKeyFromSeed(seed), now: now}, nil
}

// ParseSeed decodes a base64 (standard or URL, padded or not) Ed25519 seed.
func ParseSeed(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("audit signing key: not base64")
}

// LoadKey reads a base64 seed from path; a missing file is an error.
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	return ParseSeed(string(b))
}

// LoadOrCreateKey reads a base64 seed from path, or generates one and writes it there with
// mode 0600 if the file does not exist.
func LoadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return ParseSeed(string(b))
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process created it first
		return LoadOrCreateKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(seed) + "\n"); err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	return seed, nil
}

// PublicKey returns the base64 public key that verifiers trust.
func (s *Signer) PublicKey() string {
	return base64.StdEncoding.EncodeToString(s.key.Public().(ed25519.PublicKey))
}

// checkpointMessage is what a checkpoint's signature covers.
func checkpointMessage(c *store.AuditCheckpoint) []byte {
	return []byte("kavach-audit-checkpoint/v1\n" + c.TenantID + "\n" + strconv.FormatInt(c.Seq, 10) + "\n" +
		c.Hash + "\n" + c.SignedAt.UTC().Format(time.RFC3339Nano))
}

// Sign returns a signed checkpoint of (seq, hash) for a tenant.
func (s *Signer) Sign(tenantID string, seq int64, hash string) *store.AuditCheckpoint {
	c := &store.AuditCheckpoint{TenantID: tenantID, Seq: seq, Hash: hash,
		SignedAt: s.now().UTC().Truncate(time.Microsecond), PublicKey: s.PublicKey()}
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, checkpointMessage(c)))
	return c
}

// PublishTo sends every checkpoint the signer stores to w as well. Call it before the
// signer is used. A publication that fails is logged and counted (WitnessFailures), never
// returned: the checkpoint is in the database, and recording must not stop for a witness.
func (s *Signer) PublishTo(w Witness, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	s.witness, s.log = w, log
}

// WitnessFailures counts checkpoints the witness did not take.
func (s *Signer) WitnessFailures() int64 { return s.witnessFailures.Load() }

// Checkpoint signs and stores the current head of a tenant's chain.
func (s *Signer) Checkpoint(ctx context.Context, st store.AuditStore, tenantID string) error {
	seq, hash, err := st.AuditHead(ctx, tenantID)
	if err != nil || seq == 0 {
		return err
	}
	return s.Save(ctx, st, s.Sign(tenantID, seq, hash))
}

// Save stores a signed checkpoint, then publishes it to the witness, if there is one.
func (s *Signer) Save(ctx context.Context, st store.AuditStore, c *store.AuditCheckpoint) error {
	if err := st.SaveCheckpoint(ctx, c); err != nil {
		return err
	}
	if s.witness != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), witnessTimeout)
		defer cancel()
		if err := s.witness.Publish(wctx, c); err != nil {
			s.witnessFailures.Add(1)
			s.log.Error("audit: checkpoint not published to the witness", "tenant", c.TenantID, "seq", c.Seq, "error", err)
		}
	}
	return nil
}

// VerifyCheckpoint checks a checkpoint's signature and that its key is one of trusted
// (base64 public keys).
func VerifyCheckpoint(c *store.AuditCheckpoint, trusted []string) error {
	if !slices.Contains(trusted, c.PublicKey) {
		return fmt.Errorf("checkpoint at seq %d is signed by an untrusted key (%s)", c.Seq, c.PublicKey)
	}
	return checkSignature(c)
}

// checkSignature checks that a checkpoint is signed by the key it names.
func checkSignature(c *store.AuditCheckpoint) error {
	pub, err := base64.StdEncoding.DecodeString(c.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("checkpoint at seq %d has a malformed public key", c.Seq)
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, checkpointMessage(c), sig) {
		return fmt.Errorf("checkpoint at seq %d has an invalid signature", c.Seq)
	}
	return nil
}
