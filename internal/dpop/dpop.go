// Package dpop checks RFC 9449 DPoP proofs for the authorization server and for resource
// servers: the JWS, its public key and claims, and that a proof is used once.
package dpop

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithms are the signature algorithms a proof may use: asymmetric ones only.
var Algorithms = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// AlgorithmNames are Algorithms as strings, for metadata and challenges.
func AlgorithmNames() []string {
	out := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = string(a)
	}
	return out
}

// Window is how far a proof's iat may be from the verifier's clock, either way.
const Window = 60 * time.Second

// MaxProofBytes bounds a DPoP header.
const MaxProofBytes = 8 << 10

// Request is what a proof must match.
type Request struct {
	Method string
	URL    string // the request's URL; query and fragment are ignored
	// AccessToken, if set, must be hashed into the proof's ath claim.
	AccessToken string
}

// Proof is a checked proof.
type Proof struct {
	JKT string // RFC 7638 SHA-256 thumbprint of the proof's key, base64url
	JTI string
	IAT time.Time
	// Nonce is the proof's nonce claim, "" without one (see ValidNonce).
	Nonce string
}

type claims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   string   `json:"ath"`
	Nonce string   `json:"nonce"`
}

// Check verifies a proof's signature and claims against the request at now. It does not
// look for replays: see Cache.
func Check(proof string, req Request, now time.Time) (*Proof, error) {
	if proof == "" {
		return nil, errors.New("the DPoP proof is missing")
	}
	if len(proof) > MaxProofBytes {
		return nil, errors.New("the DPoP proof is too long")
	}
	jws, err := jose.ParseSignedCompact(proof, Algorithms)
	if err != nil {
		return nil, fmt.Errorf("the DPoP proof is not a JWS with an accepted algorithm: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("the DPoP proof must have one signature")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "dpop+jwt") {
		return nil, errors.New(`the DPoP proof's typ must be "dpop+jwt"`)
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return nil, errors.New("the DPoP proof must carry a public jwk in its header")
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return nil, errors.New("the DPoP proof's signature does not verify with its jwk")
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errors.New("the DPoP proof's claims are not a JSON object")
	}
	switch {
	case c.JTI == "" || len(c.JTI) > 256:
		return nil, errors.New("the DPoP proof needs a jti")
	case c.HTM != req.Method:
		return nil, fmt.Errorf("the DPoP proof's htm is not %s", req.Method)
	case !SameURL(c.HTU, req.URL):
		return nil, errors.New("the DPoP proof's htu is not this request's URL")
	case c.IAT == nil:
		return nil, errors.New("the DPoP proof needs an iat")
	}
	iat := time.Unix(int64(*c.IAT), 0)
	if d := now.Sub(iat); d > Window || d < -Window {
		return nil, errors.New("the DPoP proof's iat is too far from now")
	}
	if req.AccessToken != "" && c.ATH != TokenHash(req.AccessToken) {
		return nil, errors.New("the DPoP proof's ath is not the access token's hash")
	}
	jkt, err := Thumbprint(jwk)
	if err != nil {
		return nil, errors.New("the DPoP proof's jwk has no thumbprint")
	}
	return &Proof{JKT: jkt, JTI: c.JTI, IAT: iat, Nonce: c.Nonce}, nil
}

// Thumbprint is a key's RFC 7638 SHA-256 thumbprint, base64url without padding.
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	b, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// TokenHash is an access token's ath: base64url SHA-256 of its ASCII form.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SameURL compares an htu with a request URL as RFC 9449 section 4.3 asks: scheme and host
// without regard to case, default ports dropped, an empty path as "/", query and fragment
// ignored.
func SameURL(htu, request string) bool {
	a, ok1 := normalize(htu)
	b, ok2 := normalize(request)
	return ok1 && ok2 && a == b
}

func normalize(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	if port := u.Port(); port != "" && !(scheme == "https" && port == "443") && !(scheme == "http" && port == "80") {
		host += ":" + port
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// Cache remembers the proofs seen within the iat window, so that each is accepted once.
// It lives in one process: several instances behind one load balancer each keep their own,
// so a proof could be replayed once per instance within the window.
type Cache struct {
	mu   sync.Mutex
	max  int
	seen map[string]time.Time // jkt + jti → when the entry may be forgotten
}

// NewCache returns a cache of at most max proofs.
func NewCache(max int) *Cache { return &Cache{max: max, seen: make(map[string]time.Time)} }

// Use records a proof, or fails if it was seen already or the cache is full of proofs that
// are still within their window.
func (c *Cache) Use(p *Proof, now time.Time) error {
	key := p.JKT + " " + p.JTI
	c.mu.Lock()
	defer c.mu.Unlock()
	if until, ok := c.seen[key]; ok && now.Before(until) {
		return errors.New("the DPoP proof was already used")
	}
	if len(c.seen) >= c.max {
		for k, until := range c.seen {
			if !now.Before(until) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.max {
			return errors.New("too many DPoP proofs are in flight: retry shortly")
		}
	}
	// A proof is refused by its iat once now passes iat+Window; keep it a little longer
	// for clock steps.
	c.seen[key] = p.IAT.Add(Window + time.Second)
	return nil
}
