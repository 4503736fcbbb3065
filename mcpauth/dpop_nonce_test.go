package mcpauth_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/internal/dpop"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/mcpauth"
)

// TestDPoPNonces: with DPoPNonces, a bound token's proof without a nonce, with a forged
// one or with a stale one is 401 use_dpop_nonce with a DPoP challenge and the nonce to use
// in DPoP-Nonce; a retry with that nonce reaches the MCP server, which sees neither the
// token nor the proof, and the answer carries a nonce. Another Guard given the same secret
// accepts the nonce: no state is shared.
func TestDPoPNonces(t *testing.T) {
	t.Parallel()
	secret := []byte("a secret every instance holds")
	w := newWorld(t, testserver.Backends[0], func(c *mcpauth.Config) {
		c.DPoPNonces, c.DPoPNonceSecret = true, secret
	})
	key := oauthtest.NewDPoPKey(t)
	token := w.dpopAccessToken(t, key)
	proof := func(nonce string) string {
		return key.Proof(t, oauthtest.DPoPClaims{Method: http.MethodPost, URL: w.resource, AccessToken: token, Nonce: nonce})
	}
	refused := func(name, nonce string) string {
		t.Helper()
		resp, body := send(t, w.dpopRequest(t, http.MethodPost, "DPoP "+token, proof(nonce)))
		challenge := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, "DPoP ") ||
			!strings.Contains(challenge, `error="use_dpop_nonce"`) || resp.Header.Get("DPoP-Nonce") == "" {
			t.Fatalf("%s: %d %s %v, want 401 use_dpop_nonce with DPoP-Nonce", name, resp.StatusCode, body, resp.Header)
		}
		return resp.Header.Get("DPoP-Nonce")
	}
	nonce := refused("no nonce", "")
	refused("a forged nonce", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	refused("a stale nonce", dpop.Nonce(secret, time.Now().Add(-2*dpop.NoncePeriod)))
	refused("another server's nonce", dpop.Nonce([]byte("another secret"), time.Now()))
	select {
	case r := <-w.seen:
		t.Fatalf("a refused request reached the MCP server: %v", r.Header)
	default:
	}

	resp, body := send(t, w.dpopRequest(t, http.MethodPost, "DPoP "+token, proof(nonce)))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("with the nonce: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	if r := <-w.seen; r.Header.Get("DPoP") != "" || r.Header.Get("Authorization") != "" {
		t.Errorf("the MCP server saw the credentials: %v", r.Header)
	}

	other, err := mcpauth.New(mcpauth.Config{Resource: w.resource, Server: "files", Issuer: w.as.Issuer, Authorizer: w.as.Kavach,
		DPoPNonces: true, DPoPNonceSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.VerifyRequest(context.Background(), w.dpopRequest(t, http.MethodPost, "DPoP "+token, proof(nonce))); err != nil {
		t.Fatalf("another instance with the same secret refused the nonce: %v", err)
	}
	if _, err := other.VerifyRequest(context.Background(), w.dpopRequest(t, http.MethodPost, "DPoP "+token, proof(""))); err == nil {
		t.Fatal("another instance accepted a proof without a nonce")
	}
}
