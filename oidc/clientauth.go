package oidc

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// Client authentication failures at the token, revocation and introspection endpoints are
// answered as RFC 6749 section 5.2 asks: a client that authenticated through the
// Authorization header gets 401 with a Basic challenge, not op's 400. Introspection is
// callable by authenticated clients only, so every failed or missing authentication there
// is such a 401 (op answers a missing one invalid_request, and some failures 400). The
// endpoints stay op's: only their error answer is held and corrected.

// challengeClients serves r with next, answering a failed client authentication with 401
// and a Basic challenge where RFC 6749 wants one.
func (p *Provider) challengeClients(w http.ResponseWriter, r *http.Request, route string, next http.Handler) {
	if r.Method == http.MethodOptions { // a CORS preflight carries no credentials
		next.ServeHTTP(w, r)
		return
	}
	introspection := route == "/introspect"
	header := r.Header.Get("Authorization")
	scheme, _, _ := strings.Cut(header, " ")
	basic := strings.EqualFold(scheme, "Basic")
	if _, _, ok := r.BasicAuth(); basic && !ok {
		p.refuseClient(w, "the Authorization header does not hold Basic client credentials")
		return
	}
	if introspection && !basic && !hasFormCredentials(r) {
		p.refuseClient(w, "introspection needs client authentication")
		return
	}
	hw := &heldError{ResponseWriter: w}
	next.ServeHTTP(hw, r)
	hw.finish(func(status int, body []byte) int {
		if (basic || introspection) && oauthErrorCode(body) == "invalid_client" {
			w.Header().Set("WWW-Authenticate", p.basicChallenge())
			return http.StatusUnauthorized
		}
		return status
	})
}

// hasFormCredentials reports whether the form names a client, leaving malformed bodies to
// op's own answer.
func hasFormCredentials(r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		return true
	}
	return r.PostForm.Get("client_id") != "" || r.PostForm.Get("client_assertion") != ""
}

// refuseClient answers a failed client authentication itself.
func (p *Provider) refuseClient(w http.ResponseWriter, description string) {
	w.Header().Set("WWW-Authenticate", p.basicChallenge())
	writeOAuthJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": description})
}

// basicChallenge is the challenge of a 401 to a client: HTTP Basic in the issuer's realm.
func (p *Provider) basicChallenge() string { return `Basic realm="` + p.realm() + `"` }

// realm is the issuer, quoted for a challenge's realm parameter.
func (p *Provider) realm() string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p.issuer) }

// oauthErrorCode reads the error code of an OAuth JSON error answer.
func oauthErrorCode(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error
}

// maxHeldError bounds the error answer heldError keeps; a longer one goes out unchanged.
const maxHeldError = 16 << 10

// heldError passes every answer through except a 400 or 401, which it holds until finish
// may change its status.
type heldError struct {
	http.ResponseWriter
	status int // the held status; 0 while nothing is held
	body   bytes.Buffer
	passed bool // the answer went through unchanged
}

func (h *heldError) WriteHeader(status int) {
	if h.status != 0 || h.passed {
		return
	}
	if status == http.StatusBadRequest || status == http.StatusUnauthorized {
		h.status = status
		return
	}
	h.passed = true
	h.ResponseWriter.WriteHeader(status)
}

func (h *heldError) Write(b []byte) (int, error) {
	if h.status == 0 && !h.passed {
		h.WriteHeader(http.StatusOK)
	}
	if h.passed {
		return h.ResponseWriter.Write(b)
	}
	if h.body.Len()+len(b) > maxHeldError {
		h.release(h.status)
		return h.ResponseWriter.Write(b)
	}
	return h.body.Write(b)
}

// release sends the held answer with status.
func (h *heldError) release(status int) {
	h.passed = true
	h.ResponseWriter.WriteHeader(status)
	_, _ = h.ResponseWriter.Write(h.body.Bytes())
}

// finish sends a held answer with the status decide returns for it.
func (h *heldError) finish(decide func(status int, body []byte) int) {
	if h.status != 0 && !h.passed {
		h.release(decide(h.status, h.body.Bytes()))
	}
}

func (h *heldError) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// challengeBearer serves the userinfo endpoint with next, giving its 401 answers the
// challenge RFC 6750 section 3 requires: Bearer in the issuer's realm, and for a token that
// was sent but not accepted, error="invalid_token" (op answers invalid_request without a
// challenge).
func (p *Provider) challengeBearer(w http.ResponseWriter, r *http.Request, next http.Handler) {
	// op takes the token from the header, or from the form or query as RFC 6750 section 2
	// allows; the form is read here first (op then finds it read, so a form it cannot read is
	// answered here as op answers it).
	if err := r.ParseForm(); err != nil {
		writeOAuthJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "error parsing form"})
		return
	}
	sent := r.Header.Get("Authorization") != "" || r.Form.Get("access_token") != ""
	hw := &heldError{ResponseWriter: w}
	next.ServeHTTP(hw, r)
	if hw.status != http.StatusUnauthorized || hw.passed {
		hw.finish(func(status int, _ []byte) int { return status })
		return
	}
	hw.passed = true
	challenge := `Bearer realm="` + p.realm() + `"`
	if !sent {
		w.Header().Set("WWW-Authenticate", challenge)
		writeOAuthJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "no access token"})
		return
	}
	var e struct {
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(hw.body.Bytes(), &e)
	w.Header().Set("WWW-Authenticate", challenge+`, error="invalid_token"`)
	writeOAuthJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": e.Description})
}
