package oauthtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kavachos/kavach-go/internal/dpop"
)

// DPoPKey is a client's DPoP key pair (P-256).
type DPoPKey struct{ priv *ecdsa.PrivateKey }

// NewDPoPKey makes a fresh key.
func NewDPoPKey(t testing.TB) *DPoPKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &DPoPKey{priv}
}

// JKT is the key's thumbprint, as cnf.jkt names it.
func (k *DPoPKey) JKT(t testing.TB) string {
	t.Helper()
	jkt, err := dpop.Thumbprint(&jose.JSONWebKey{Key: &k.priv.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return jkt
}

// DPoPClaims describe a proof. Zero values are filled in: a random jti, iat now, typ
// dpop+jwt; ath is set from AccessToken unless ATH is.
type DPoPClaims struct {
	Method, URL, AccessToken, ATH, JTI, Typ string
	Nonce                                   string // the server-provided nonce, if any
	IAT                                     time.Time
	// EmbedPrivate puts the private key in the header's jwk.
	EmbedPrivate bool
}

// Proof signs a DPoP proof with the key.
func (k *DPoPKey) Proof(t testing.TB, c DPoPClaims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(orDefault(c.Typ, "dpop+jwt")))
	if c.EmbedPrivate {
		opts = opts.WithHeader("jwk", jose.JSONWebKey{Key: k.priv, Algorithm: string(jose.ES256)})
	} else {
		opts.EmbedJWK = true
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, signer, c)
}

// HMACDPoPProof is a proof signed with a shared secret, which must never be accepted.
func HMACDPoPProof(t testing.TB, c DPoPClaims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("dpop+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: make([]byte, 32)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, signer, c)
}

func sign(t testing.TB, signer jose.Signer, c DPoPClaims) string {
	t.Helper()
	if c.IAT.IsZero() {
		c.IAT = time.Now()
	}
	claims := map[string]any{"jti": orDefault(c.JTI, rand.Text()), "htm": c.Method, "htu": c.URL, "iat": c.IAT.Unix()}
	if c.Nonce != "" {
		claims["nonce"] = c.Nonce
	}
	if c.ATH != "" {
		claims["ath"] = c.ATH
	} else if c.AccessToken != "" {
		claims["ath"] = dpop.TokenHash(c.AccessToken)
	}
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// PostFormDPoP is PostForm with a DPoP header, when proof is set.
func PostFormDPoP(t testing.TB, u string, form url.Values, clientID, secret, proof string) (int, map[string]any) {
	t.Helper()
	resp, body := PostFormDPoPResponse(t, u, form, clientID, secret, proof, nil)
	return resp.StatusCode, body
}

// PostFormDPoPResponse is PostFormDPoP returning the response (its body read) for its
// headers; header, if set, adds request headers.
func PostFormDPoPResponse(t testing.TB, u string, form url.Values, clientID, secret, proof string, header http.Header) (*http.Response, map[string]any) {
	t.Helper()
	var body map[string]any
	resp := post(t, u, "application/x-www-form-urlencoded", form.Encode(), &body, func(r *http.Request) {
		for k, v := range header {
			r.Header[k] = v
		}
		if secret != "" {
			r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
		}
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
	})
	return resp, body
}
