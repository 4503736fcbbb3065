package mcpauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kavachos/kavach-go/internal/dpop"
)

// dpopCacheSize bounds the DPoP proofs remembered against replay. The cache lives in this
// process: behind a load balancer, each instance remembers only the proofs it saw.
const dpopCacheSize = 100_000

// refusal is why a request's credentials were refused: the OAuth error code and whether
// the challenge is DPoP's (RFC 9449 section 7.1) rather than Bearer's.
type refusal struct {
	code, description string
	dpop              bool
	nonce             string // for use_dpop_nonce: the nonce to send the next proof with
}

func (r *refusal) Error() string { return r.description }

// DPoPChallenge is what an adapter answering this refusal itself sends (adapters/nethttp):
// the WWW-Authenticate value of a DPoP refusal, empty for others, and the DPoP-Nonce to hand
// out, empty unless the refusal is use_dpop_nonce.
func (r *refusal) DPoPChallenge() (challenge, nonce string) {
	if !r.dpop {
		return "", ""
	}
	return fmt.Sprintf("DPoP error=%q, error_description=%q, %s", r.code, strings.ReplaceAll(r.description, `"`, "'"), dpopAlgs()), r.nonce
}

// credentials returns the token of an Authorization header with the Bearer or DPoP scheme.
// Tokens in the query string are never accepted.
func credentials(r *http.Request) (token string, isDPoP, ok bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	isDPoP = strings.EqualFold(scheme, "DPoP")
	return token, isDPoP, ok && (isDPoP || strings.EqualFold(scheme, "Bearer")) && token != ""
}

// authenticateRequest verifies a request's token and, for a token bound to a DPoP key
// (cnf.jkt), the proof that the caller holds the key: the token must come with the DPoP
// scheme and a proof of this request (method, URL on this resource's origin, iat, ath)
// signed with the bound key, used once. An unbound token must come as Bearer. Errors that
// are not a *refusal mean the token could not be checked now.
func (g *Guard) authenticateRequest(ctx context.Context, r *http.Request, token string, isDPoP bool) (*Claims, error) {
	claims, err := g.authenticate(ctx, token)
	var unavailable *keysUnavailable
	var agentsUnavailable *agentsUnavailable
	switch {
	case errors.As(err, &unavailable), errors.As(err, &agentsUnavailable):
		return nil, err
	case err != nil:
		return nil, &refusal{code: "invalid_token", description: err.Error(), dpop: isDPoP}
	case claims.JKT == "" && isDPoP:
		return nil, &refusal{code: "invalid_token", description: "the token is not bound to a DPoP key: send it as Bearer", dpop: true}
	case claims.JKT == "":
		return claims, nil
	case !isDPoP:
		return nil, &refusal{code: "invalid_token", description: "the token is bound to a DPoP key: send it with the DPoP scheme and a DPoP proof", dpop: true}
	}
	if err := g.checkProof(r, token, claims.JKT); errors.Is(err, errUseNonce) {
		return nil, &refusal{code: "use_dpop_nonce", description: err.Error(), dpop: true,
			nonce: dpop.Nonce(g.cfg.DPoPNonceSecret, g.cfg.Now())}
	} else if err != nil {
		return nil, &refusal{code: "invalid_dpop_proof", description: err.Error(), dpop: true}
	}
	return claims, nil
}

// checkProof checks the request's DPoP proof against the token bound to jkt.
func (g *Guard) checkProof(r *http.Request, token, jkt string) error {
	proofs := r.Header.Values("DPoP")
	if len(proofs) > 1 {
		return errors.New("send one DPoP header")
	}
	var proof string
	if len(proofs) == 1 {
		proof = proofs[0]
	}
	now := g.cfg.Now()
	u := g.resource.Scheme + "://" + g.resource.Host + r.URL.EscapedPath()
	p, err := dpop.Check(proof, dpop.Request{Method: r.Method, URL: u, AccessToken: token}, now)
	if err != nil {
		return err
	}
	if p.JKT != jkt {
		return errors.New("the DPoP proof is signed with another key than the token is bound to")
	}
	if g.cfg.DPoPNonces && !dpop.ValidNonce(g.cfg.DPoPNonceSecret, p.Nonce, now) {
		return errUseNonce
	}
	return g.dpopSeen.Use(p, now)
}

// errUseNonce refuses a proof without a current nonce of this server's.
var errUseNonce = errors.New("the DPoP proof needs the nonce in the DPoP-Nonce header")

// setDPoPNonce hands out the current nonce, when nonces are required.
func (g *Guard) setDPoPNonce(w http.ResponseWriter) {
	if g.cfg.DPoPNonces {
		w.Header().Set("DPoP-Nonce", dpop.Nonce(g.cfg.DPoPNonceSecret, g.cfg.Now()))
	}
}

// VerifyRequest checks a request's credentials as Wrap does, DPoP proofs included, and
// returns the agent the token names. Adapters that see the whole request use it rather
// than VerifyAccessToken, so that DPoP-bound tokens are accepted.
func (g *Guard) VerifyRequest(ctx context.Context, r *http.Request) (string, error) {
	token, isDPoP, ok := credentials(r)
	if !ok {
		return "", &refusal{code: "invalid_token", description: "a bearer or DPoP token is required"}
	}
	claims, err := g.authenticateRequest(ctx, r, token, isDPoP)
	if err != nil {
		return "", err
	}
	if err := g.scopesMissing(claims.Scopes); err != nil {
		return "", err
	}
	return claims.AgentID, nil
}

// dpopAlgs is the algs parameter of DPoP challenges.
func dpopAlgs() string { return fmt.Sprintf("algs=%q", strings.Join(dpop.AlgorithmNames(), " ")) }
