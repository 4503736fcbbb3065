package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kavachos/kavach-go/internal/dpop"
)

// dpopTokenType is the token_type of an access token bound to a DPoP key (RFC 9449).
const dpopTokenType = "DPoP"

// dpopCacheSize bounds the proofs remembered against replay. The cache lives in this
// process: behind a load balancer, each instance remembers only the proofs it saw.
const dpopCacheSize = 100_000

// errInvalidDPoPProof is RFC 9449's invalid_dpop_proof, with status 400.
func errInvalidDPoPProof(format string, args ...any) error {
	return op.NewStatusError(&oidc.Error{ErrorType: "invalid_dpop_proof", Description: fmt.Sprintf(format, args...)}, http.StatusBadRequest)
}

// errUseDPoPNonce is RFC 9449's use_dpop_nonce, with status 400; the token endpoint's
// answers carry the nonce to use in DPoP-Nonce.
func errUseDPoPNonce(description string) error {
	return op.NewStatusError(&oidc.Error{ErrorType: "use_dpop_nonce", Description: description}, http.StatusBadRequest)
}

// dpopKey checks the DPoP proof of a token request against the token endpoint and returns
// the thumbprint of its key, or "" when the request carries no proof. With DPoPNonces, the
// proof must carry a current nonce of this server's.
func (p *Provider) dpopKey(ctx context.Context, method string, h http.Header) (string, error) {
	proofs := h.Values(oidc.DPoPHeader)
	switch len(proofs) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", errInvalidDPoPProof("send one DPoP header")
	}
	now := p.cfg.Now()
	proof, err := dpop.Check(proofs[0], dpop.Request{Method: method, URL: p.endpoint("/token")}, now)
	if err != nil {
		return "", errInvalidDPoPProof("%s", err.Error())
	}
	if p.cfg.DPoPNonces {
		if err := p.checkNonce(ctx, proof.Nonce); err != nil {
			return "", err
		}
	}
	if err := p.dpopSeen.Use(proof, now); err != nil {
		return "", errInvalidDPoPProof("%s", err.Error())
	}
	return proof.JKT, nil
}

// A refresh token bound to a DPoP key ends with "." and the key's thumbprint. The store
// keeps the hash of the whole token, so the binding cannot be altered or stripped without
// the token no longer being found.
const refreshBindingSep = "."

// refreshBinding returns the thumbprint a refresh token is bound to, or "".
func refreshBinding(token string) string {
	if i := strings.LastIndex(token, refreshBindingSep); i >= 0 {
		return token[i+1:]
	}
	return ""
}

// checkRefreshBinding refuses a refresh of a bound refresh token without a proof of its
// key.
func checkRefreshBinding(token, jkt string) error {
	return checkBinding(refreshBinding(token), jkt, "the refresh token",
		oidc.ErrInvalidGrant().WithDescription("the refresh token is bound to a DPoP key: send a DPoP proof"))
}

// checkBinding requires a request presenting what (a token or an assertion) bound to the
// key thumbprint bound ("" when it is not bound) to carry a DPoP proof of that key, whose
// thumbprint is jkt ("" without a proof). Without a proof it returns missing; with a proof
// of another key, invalid_dpop_proof.
func checkBinding(bound, jkt, what string, missing error) error {
	switch {
	case bound == "":
		return nil
	case jkt == "":
		return missing
	case jkt != bound:
		return errInvalidDPoPProof("the DPoP proof's key is not the one %s is bound to", what)
	}
	return nil
}

// The nonces of the token endpoint (RFC 9449 section 8) are dpop.Nonce under a secret
// derived from a signing key in the store: every instance derives the same secrets, so a
// nonce one instance handed out is accepted by all. Nonces are made with the current key's
// secret and accepted under any stored key's, so a key rotation does not void them.

// nonceSecret derives a key's nonce secret, apart from anything the key signs.
func nonceSecret(k *signingKey) ([]byte, error) {
	b, err := k.priv.Bytes()
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, b)
	m.Write([]byte("kavach dpop nonce secret"))
	return m.Sum(nil), nil
}

// dpopNonce is the nonce to hand out now.
func (p *Provider) dpopNonce(ctx context.Context) (string, error) {
	k, err := p.keys.signer(ctx)
	if err != nil {
		return "", err
	}
	secret, err := nonceSecret(k.(*signingKey))
	if err != nil {
		return "", err
	}
	return dpop.Nonce(secret, p.cfg.Now()), nil
}

// checkNonce refuses a proof whose nonce is missing, stale or not this server's.
func (p *Provider) checkNonce(ctx context.Context, nonce string) error {
	if nonce == "" {
		return errUseDPoPNonce("the DPoP proof needs the nonce in the DPoP-Nonce header")
	}
	p.keys.mu.Lock()
	keys, err := p.keys.load(ctx, false)
	p.keys.mu.Unlock()
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	now := p.cfg.Now()
	for _, k := range keys {
		if secret, err := nonceSecret(k); err == nil && dpop.ValidNonce(secret, nonce, now) {
			return nil
		}
	}
	return errUseDPoPNonce("the DPoP proof's nonce is stale or unknown: use the one in the DPoP-Nonce header")
}

// setDPoPNonce puts the current nonce in a token endpoint answer, success or error, so
// that clients always hold a fresh one.
func (p *Provider) setDPoPNonce(w http.ResponseWriter, r *http.Request) {
	if !p.cfg.DPoPNonces || r.Method != http.MethodPost {
		return
	}
	nonce, err := p.dpopNonce(r.Context())
	if err != nil {
		p.log.ErrorContext(r.Context(), "oauth: no DPoP nonce", "error", err)
		return
	}
	w.Header().Set(dpopNonceHeader, nonce)
}

// dpopNonceHeader carries server-provided nonces.
const dpopNonceHeader = "DPoP-Nonce"
