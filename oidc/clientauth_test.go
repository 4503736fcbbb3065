package oidc_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/internal/oauthtest"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// rawAnswer is an HTTP answer as a client sees it on the wire.
type rawAnswer struct {
	status    int
	challenge string
	body      map[string]any
}

// postRaw posts form to u with the Authorization header set to authorization, if any.
func postRaw(t *testing.T, u, authorization string, form url.Values) rawAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := oauthtest.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := rawAnswer{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate")}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out.body); err != nil {
			t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, b)
		}
	}
	return out
}

func basic(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return r.Header.Get("Authorization")
}

// TestClientAuthenticationFailures: a client that fails to authenticate through the
// Authorization header is answered 401 invalid_client with a Basic challenge at the token,
// revocation and introspection endpoints (RFC 6749 section 5.2). Introspection, which only
// authenticated clients may call, answers every failed or missing authentication so. A
// public client's failure without the header stays a 400.
func TestClientAuthenticationFailures(t *testing.T) {
	t.Parallel()
	e := start(t, testserver.Backends[0], devConfig())
	rs := e.register(t, map[string]any{"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"authorization_code"}})
	public := e.register(t, nil)
	token, revoke, introspect := e.endpoint("token_endpoint"), e.endpoint("revocation_endpoint"), e.endpoint("introspection_endpoint")
	code := url.Values{"grant_type": {"authorization_code"}, "code": {"kvc_x"}, "redirect_uri": {redirectURI}, "code_verifier": {oauthtest.NewPKCE().Verifier}}
	tok := url.Values{"token": {"kvr_nothing"}}
	wrong, unknown := basic(rs.ID, "kvs_wrong"), basic("client_nobody", "kvs_wrong")
	withClient := func(v url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, vs := range v {
			out[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		url, header   string
		form          url.Values
		status        int
		error         string
		wantChallenge bool
	}{
		{"token, wrong secret in the header", token, wrong, code, 401, "invalid_client", true},
		{"token, unknown client in the header", token, unknown, code, 401, "invalid_client", true},
		{"token, undecodable Basic header", token, "Basic !!!", code, 401, "invalid_client", true},
		{"token, unknown public client without the header", token, "", withClient(code, "client_id", "client_nobody"), 400, "invalid_client", false},
		{"revocation, wrong secret in the header", revoke, wrong, tok, 401, "invalid_client", true},
		{"revocation, unknown client in the header", revoke, unknown, tok, 401, "invalid_client", true},
		{"introspection, wrong secret in the header", introspect, wrong, tok, 401, "invalid_client", true},
		{"introspection, wrong secret in the body", introspect, "", withClient(tok, "client_id", rs.ID, "client_secret", "kvs_wrong"), 401, "invalid_client", true},
		{"introspection, no credentials", introspect, "", tok, 401, "invalid_client", true},
		{"introspection, a client id without a secret", introspect, "", withClient(tok, "client_id", rs.ID), 401, "invalid_client", true},
		{"introspection, a public client", introspect, "", withClient(tok, "client_id", public.ID), 401, "invalid_client", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := postRaw(t, tc.url, tc.header, tc.form)
			if got.status != tc.status || got.body["error"] != tc.error {
				t.Fatalf("got %d %v, want %d %s", got.status, got.body, tc.status, tc.error)
			}
			if tc.wantChallenge && !strings.HasPrefix(got.challenge, `Basic realm="`) {
				t.Fatalf("WWW-Authenticate %q, want a Basic challenge with a realm", got.challenge)
			}
			if !tc.wantChallenge && got.challenge != "" {
				t.Fatalf("WWW-Authenticate %q on a %d", got.challenge, got.status)
			}
		})
	}

	t.Run("authenticated clients are answered as before", func(t *testing.T) {
		if got := postRaw(t, introspect, basic(rs.ID, rs.Secret), tok); got.status != 200 || got.body["active"] != false || got.challenge != "" {
			t.Fatalf("introspection: %d %q %v", got.status, got.challenge, got.body)
		}
		if got := postRaw(t, revoke, basic(rs.ID, rs.Secret), tok); got.status != 200 || got.challenge != "" {
			t.Fatalf("revocation: %d %q %v", got.status, got.challenge, got.body)
		}
		got := postRaw(t, token, basic(rs.ID, rs.Secret), code)
		if got.status != 400 || got.body["error"] != "invalid_grant" || got.challenge != "" {
			t.Fatalf("token with a bad code but good credentials: %d %q %v", got.status, got.challenge, got.body)
		}
	})
}

// TestClientAuthPreflight: a browser's CORS preflight carries no credentials and is still
// answered by the CORS handler, at introspection too.
func TestClientAuthPreflight(t *testing.T) {
	t.Parallel()
	e := start(t, testserver.Backends[0], devConfig())
	for _, name := range []string{"token_endpoint", "revocation_endpoint", "introspection_endpoint"} {
		req, _ := http.NewRequest(http.MethodOptions, e.endpoint(name), nil)
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := oauthtest.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("%s preflight: %d %v", name, resp.StatusCode, resp.Header)
		}
	}
}
