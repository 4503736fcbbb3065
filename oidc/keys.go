package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// signingAlgorithm signs every token: ECDSA P-256.
const signingAlgorithm = jose.ES256

// keyRing keeps the signing keys in the store so that every instance signs with the same
// key and publishes the same JWKS. A key signs from its ActiveFrom until the next key's; a
// new key is created publishAhead before it takes over, so that verifiers caching the JWKS
// see it first, and a retired key stays published for retain (the longest token lifetime)
// so that tokens it signed still verify.
type keyRing struct {
	store                        store.OAuthStore
	now                          func() time.Time
	rotate, publishAhead, retain time.Duration
	mu                           sync.Mutex
	cached                       []*signingKey
	cachedAt                     time.Time
}

// keyCacheTTL is how long parsed keys are reused before the store is read again, so that a
// key another instance created is seen within it.
const keyCacheTTL = 30 * time.Second

func newKeyRing(s store.OAuthStore, now func() time.Time, rotate, publishAhead, retain time.Duration) *keyRing {
	return &keyRing{store: s, now: now, rotate: rotate, publishAhead: publishAhead, retain: retain}
}

// signingKey is a stored key, parsed. It is op.SigningKey (the private half) and op.Key
// (the public half, for the JWKS).
type signingKey struct {
	id         string
	priv       *ecdsa.PrivateKey
	activeFrom time.Time
}

func (k *signingKey) ID() string                                  { return k.id }
func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return signingAlgorithm }
func (k *signingKey) Algorithm() jose.SignatureAlgorithm          { return signingAlgorithm }
func (k *signingKey) Use() string                                 { return "sig" }

// Key returns the private key to op's signer and the public key to the JWKS: op asks the
// same method of both interfaces, so the two views are separate types.
func (k *signingKey) Key() any { return k.priv }

type publicKey struct{ *signingKey }

func (k publicKey) Key() any { return &k.priv.PublicKey }

// load returns the stored keys, oldest activation first, from the cache when fresh.
func (r *keyRing) load(ctx context.Context, fresh bool) ([]*signingKey, error) {
	now := r.now()
	if !fresh && r.cached != nil && now.Sub(r.cachedAt) < keyCacheTTL && !now.Before(r.cachedAt) {
		return r.cached, nil
	}
	stored, err := r.store.ListOAuthSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]*signingKey, 0, len(stored))
	for _, s := range stored {
		k, err := parseKey(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	r.cached, r.cachedAt = keys, now
	return keys, nil
}

func parseKey(s *store.OAuthSigningKey) (*signingKey, error) {
	block, _ := pem.Decode([]byte(s.PrivateKey))
	if block == nil || s.Algorithm != string(signingAlgorithm) {
		return nil, fmt.Errorf("oauth signing key %s: not a PEM %s key", s.ID, signingAlgorithm)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("oauth signing key %s: %w", s.ID, err)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("oauth signing key %s: not an ECDSA key", s.ID)
	}
	return &signingKey{id: s.ID, priv: priv, activeFrom: s.ActiveFrom}, nil
}

// signer returns the key that signs now, creating the first key, and the next one when the
// current key nears the end of its rotation period.
func (r *keyRing) signer(ctx context.Context) (op.SigningKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current(ctx)
}

// current is signer with the lock held.
func (r *keyRing) current(ctx context.Context) (*signingKey, error) {
	keys, err := r.load(ctx, false)
	if err != nil {
		return nil, err
	}
	now := r.now()
	current, next := split(keys, now)
	if current == nil {
		if current, err = r.create(ctx, now); err != nil {
			return nil, err
		}
	}
	if next == nil && now.Sub(current.activeFrom) >= r.rotate-r.publishAhead {
		if _, err := r.create(ctx, now.Add(r.publishAhead)); err != nil {
			return nil, err
		}
		r.prune(ctx, keys, now)
	}
	return current, nil
}

// split returns the key active at now (the latest to have started) and a key that starts
// later, if any.
func split(keys []*signingKey, now time.Time) (current, next *signingKey) {
	for _, k := range keys {
		if !k.activeFrom.After(now) {
			current = k
		} else if next == nil {
			next = k
		}
	}
	return current, next
}

// published returns the keys verifiers need: the pending and current ones, and retired
// ones whose tokens may still be live. It creates the first key, and the next one when due,
// as signing would, so that the JWKS never lags behind the signer.
func (r *keyRing) published(ctx context.Context) ([]op.Key, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.current(ctx); err != nil {
		return nil, err
	}
	keys, err := r.load(ctx, false)
	if err != nil {
		return nil, err
	}
	now := r.now()
	var out []op.Key
	for i, k := range keys {
		if i+1 < len(keys) && !now.Before(keys[i+1].activeFrom.Add(r.retain)) {
			continue // retired long enough ago that nothing it signed is still valid
		}
		out = append(out, publicKey{k})
	}
	return out, nil
}

// create stores a new key that signs from activeFrom.
func (r *keyRing) create(ctx context.Context, activeFrom time.Time) (*signingKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	now := r.now().UTC().Truncate(time.Microsecond)
	k := &store.OAuthSigningKey{
		ID: agent.NewID("key_"), Algorithm: string(signingAlgorithm), CreatedAt: now,
		ActiveFrom: activeFrom.UTC().Truncate(time.Microsecond),
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}
	if err := r.store.CreateOAuthSigningKey(ctx, k); err != nil {
		return nil, err
	}
	if _, err := r.load(ctx, true); err != nil {
		return nil, err
	}
	return &signingKey{id: k.ID, priv: priv, activeFrom: k.ActiveFrom}, nil
}

// prune deletes keys that are no longer published.
func (r *keyRing) prune(ctx context.Context, keys []*signingKey, now time.Time) {
	for i, k := range keys {
		if i+1 < len(keys) && !now.Before(keys[i+1].activeFrom.Add(r.retain)) {
			if err := r.store.DeleteOAuthSigningKey(ctx, k.id); err != nil && !errors.Is(err, store.ErrNotFound) {
				return
			}
		}
	}
}
