package oidc_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/internal/dpop"
	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// TestDPoPNonces: with DPoPNonces, a proof without a nonce, with a forged one or with one
// that has gone stale is use_dpop_nonce with the nonce to use in DPoP-Nonce (exposed to
// browsers), and the code is not spent; a retry with that nonce gets a DPoP-bound token,
// its answer carrying a nonce too. Without the option, a proof needs no nonce and no
// DPoP-Nonce is sent.
func TestDPoPNonces(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	cfg := devConfig()
	cfg.DPoPNonces, cfg.Now = true, now
	e := start(t, testserver.Backends[0], cfg)
	c := e.register(t, nil)
	key := oauthtest.NewDPoPKey(t)
	tokenURL := e.endpoint("token_endpoint")
	proof := func(nonce string) string {
		return key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: tokenURL, Nonce: nonce, IAT: now()})
	}
	browser := http.Header{"Origin": {"https://app.example.com"}}
	post := func(form url.Values, proof string) (*http.Response, map[string]any) {
		form.Set("client_id", c.ID)
		return oauthtest.PostFormDPoPResponse(t, tokenURL, form, c.ID, "", proof, browser)
	}

	pk := oauthtest.NewPKCE()
	code := e.code(t, authParams(c.ID, pk))
	resp, out := post(exchange(code, pk), proof(""))
	wantOAuthError(t, "a proof without a nonce", resp.StatusCode, out, 400, "use_dpop_nonce")
	stale := resp.Header.Get("DPoP-Nonce")
	if stale == "" {
		t.Fatalf("use_dpop_nonce without a DPoP-Nonce header: %v", resp.Header)
	}
	if exposed := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers")); !strings.Contains(exposed, "dpop-nonce") {
		t.Errorf("browsers cannot read DPoP-Nonce: %v", resp.Header)
	}
	resp, out = post(exchange(code, pk), proof("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
	wantOAuthError(t, "a forged nonce", resp.StatusCode, out, 400, "use_dpop_nonce")

	// Two periods later the first nonce is stale; the refusal hands out the current one.
	clock.Add(int64(2*dpop.NoncePeriod + time.Second))
	pk = oauthtest.NewPKCE()
	code = e.code(t, authParams(c.ID, pk))
	resp, out = post(exchange(code, pk), proof(stale))
	wantOAuthError(t, "a stale nonce", resp.StatusCode, out, 400, "use_dpop_nonce")
	nonce := resp.Header.Get("DPoP-Nonce")
	if nonce == "" || nonce == stale {
		t.Fatalf("the refusal of a stale nonce hands out %q", nonce)
	}
	resp, out = post(exchange(code, pk), proof(nonce))
	if resp.StatusCode != 200 || out["token_type"] != "DPoP" {
		t.Fatalf("the code with the nonce: %d %v", resp.StatusCode, out)
	}
	if resp.Header.Get("DPoP-Nonce") == "" {
		t.Errorf("a token answer without DPoP-Nonce: %v", resp.Header)
	}
	if cnf, _ := claims(t, out["access_token"].(string))["cnf"].(map[string]any); cnf["jkt"] != key.JKT(t) {
		t.Fatalf("cnf %v, want jkt %s", cnf, key.JKT(t))
	}
	// A refresh proof needs a nonce as well.
	refresh := func() url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {out["refresh_token"].(string)}}
	}
	resp, got := post(refresh(), proof(""))
	wantOAuthError(t, "a refresh proof without a nonce", resp.StatusCode, got, 400, "use_dpop_nonce")
	if resp, got = post(refresh(), proof(resp.Header.Get("DPoP-Nonce"))); resp.StatusCode != 200 || got["token_type"] != "DPoP" {
		t.Fatalf("refresh with the nonce: %d %v", resp.StatusCode, got)
	}

	plain := start(t, testserver.Backends[0], devConfig())
	pc := plain.register(t, nil)
	pk = oauthtest.NewPKCE()
	form := exchange(plain.code(t, authParams(pc.ID, pk)), pk)
	form.Set("client_id", pc.ID)
	plainURL := plain.endpoint("token_endpoint")
	resp, out = oauthtest.PostFormDPoPResponse(t, plainURL, form, pc.ID, "", key.Proof(t, oauthtest.DPoPClaims{Method: "POST", URL: plainURL}), nil)
	if resp.StatusCode != 200 || out["token_type"] != "DPoP" || resp.Header.Get("DPoP-Nonce") != "" {
		t.Fatalf("without DPoPNonces: %d %v %v", resp.StatusCode, out, resp.Header)
	}
}
