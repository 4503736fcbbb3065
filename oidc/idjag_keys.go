package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// signatureAlgorithms are the asymmetric algorithms an ID-JAG may be signed with. "none"
// and HMAC are refused before any key is looked at: a shared secret is no proof that the
// identity provider spoke.
var signatureAlgorithms = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

const (
	jwksRefetchInterval = 10 * time.Second // at most one fetch per provider this often
	jwksMaxAge          = time.Hour        // cached keys older than this are refetched
	jwksTimeout         = 10 * time.Second
	jwksMaxBytes        = 256 << 10
	jwksMaxKeys         = 100
)

// errKeysUnavailable says a provider's keys could not be fetched and none are cached: a
// failure on our side (or the provider's), not a bad assertion.
var errKeysUnavailable = errors.New("the identity provider's keys cannot be fetched")

// idpKeys caches one trusted provider's JWKS. A key id it does not hold makes it refetch
// (providers publish new keys ahead of signing with them), at most once per
// jwksRefetchInterval, so that assertions naming made-up keys cannot make it hammer the
// provider. While a refetch fails, the keys fetched before stay in use.
type idpKeys struct {
	issuer, url string
	http        *http.Client
	now         func() time.Time
	log         *slog.Logger

	mu                 sync.Mutex
	keys               []jose.JSONWebKey
	fetched, attempted time.Time
}

// trustedIdPs makes a key cache per trusted provider, keyed by issuer.
func trustedIdPs(idps []TrustedIdP, now func() time.Time, log *slog.Logger) map[string]*idpKeys {
	if len(idps) == 0 {
		return nil
	}
	hc := &http.Client{
		Timeout:       jwksTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	out := make(map[string]*idpKeys, len(idps))
	for _, idp := range idps {
		out[idp.Issuer] = &idpKeys{issuer: idp.Issuer, url: idp.JWKSURL, http: hc, now: now, log: log}
	}
	return out
}

// key returns the public key that kid (or, without a kid, the provider's only key for alg)
// names.
func (k *idpKeys) key(ctx context.Context, kid, alg string) (*jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	found, err := pickKey(k.keys, kid, alg)
	if (err != nil || now.Sub(k.fetched) > jwksMaxAge) && now.Sub(k.attempted) >= jwksRefetchInterval {
		k.attempted = now
		if ferr := k.fetch(ctx); ferr != nil {
			if k.fetched.IsZero() {
				return nil, fmt.Errorf("%w: %v", errKeysUnavailable, ferr)
			}
			k.log.WarnContext(ctx, "refetching an identity provider's keys failed: the cached ones stay in use", "issuer", k.issuer, "error", ferr)
		} else {
			k.fetched = now
		}
		found, err = pickKey(k.keys, kid, alg)
	}
	if err != nil && k.fetched.IsZero() {
		return nil, errKeysUnavailable
	}
	return found, err
}

// pickKey finds the one key an assertion's header names.
func pickKey(keys []jose.JSONWebKey, kid, alg string) (*jose.JSONWebKey, error) {
	var found *jose.JSONWebKey
	for i := range keys {
		k := &keys[i]
		if (kid != "" && k.KeyID != kid) || (k.Algorithm != "" && k.Algorithm != alg) {
			continue
		}
		if found != nil {
			return nil, errors.New("the assertion's key is ambiguous: give it a kid")
		}
		found = k
	}
	if found == nil {
		return nil, errors.New("the assertion was signed with a key the identity provider does not publish")
	}
	return found, nil
}

// fetch reads the JWKS and keeps its public signing keys for the allowed algorithms. A key
// this server cannot read is skipped, not a reason to refuse the others.
func (k *idpKeys) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := k.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", k.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return err
	}
	if len(body) > jwksMaxBytes {
		return fmt.Errorf("%s: the key set is larger than %d bytes", k.url, jwksMaxBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("%s: not a JWK set: %w", k.url, err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) != nil || !key.Valid() || !key.IsPublic() || (key.Use != "" && key.Use != "sig") ||
			(key.Algorithm != "" && !slices.Contains(signatureAlgorithms, jose.SignatureAlgorithm(key.Algorithm))) {
			continue
		}
		if keys = append(keys, key); len(keys) == jwksMaxKeys {
			break
		}
	}
	k.keys = keys
	return nil
}
