package oidc

import (
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

// dpopKey checks the DPoP proof of a token request against the token endpoint and returns
// the thumbprint of its key, or "" when the request carries no proof.
func (p *Provider) dpopKey(method string, h http.Header) (string, error) {
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
	bound := refreshBinding(token)
	switch {
	case bound == "":
		return nil
	case jkt == "":
		return oidc.ErrInvalidGrant().WithDescription("the refresh token is bound to a DPoP key: send a DPoP proof")
	case jkt != bound:
		return errInvalidDPoPProof("the DPoP proof's key is not the one the refresh token is bound to")
	}
	return nil
}
