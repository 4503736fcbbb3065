package nethttp

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/kavachos/kavach-go/api"
)

// Problem is the problem+json body of a refusal: api.Problem, with Reason carrying the
// decision code, and the decision's audit id, approval id and retry delay where present.
type Problem struct {
	api.Problem
	AuditID    string `json:"auditId,omitempty"`
	ApprovalID string `json:"approvalId,omitempty"`
	RetryAfter string `json:"retryAfter,omitempty"`
}

// Refusal is a request's answer when it may not proceed.
type Refusal struct {
	Status  int
	Problem Problem
	// Challenge is the WWW-Authenticate value of a 401.
	Challenge string
	// RetryAfter, if positive, becomes the Retry-After header.
	RetryAfter time.Duration
	// DPoPNonce, if set, is handed out in the DPoP-Nonce header (RFC 9449 section 9).
	DPoPNonce string
}

// Write answers with the refusal as application/problem+json.
func (f *Refusal) Write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", api.ProblemContentType)
	h.Set("Cache-Control", "no-store")
	if f.Challenge != "" {
		h.Set("WWW-Authenticate", f.Challenge)
	}
	if f.DPoPNonce != "" {
		h.Set("DPoP-Nonce", f.DPoPNonce)
	}
	if f.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(f.Problem)
}

func newRefusal(status int, code api.ErrorCode, reason api.DecisionCode, detail string) *Refusal {
	p := api.ProblemOf(&api.Error{Code: code, Reason: string(reason), Message: detail}, status)
	return &Refusal{Status: status, Problem: Problem{Problem: p}}
}

// unauthenticated is a 401 with a Bearer challenge; reason is empty when no credential
// came at all (RFC 6750 section 3.1 names no error then).
func unauthenticated(reason api.DecisionCode, detail string) *Refusal {
	f := newRefusal(http.StatusUnauthorized, api.CodeUnauthenticated, reason, detail)
	f.Challenge = `Bearer realm="kavach"`
	if reason != "" {
		f.Challenge += `, error="invalid_token"`
	}
	return f
}

func unavailable() *Refusal {
	f := newRefusal(http.StatusServiceUnavailable, api.CodeInternal, api.EngineError, "the authorization service failed")
	f.RetryAfter = 5 * time.Second
	return f
}

// Unmappable is the 400 answer to a request that cannot be turned into a call to
// authorize.
func Unmappable(err error) *Refusal {
	return newRefusal(http.StatusBadRequest, api.CodeInvalidInput, "", "the request cannot be authorized: "+err.Error())
}

// Denied is the answer to a denial: 401 when the agent itself is not accepted (unknown,
// revoked or expired, or a bad token), 503 when Kavach could not decide, 403 otherwise.
// The problem's reason is the decision code.
func Denied(d *api.Decision) *Refusal {
	var f *Refusal
	switch d.Code {
	case api.TokenInvalid, api.AgentNotFound, api.AgentRevoked, api.AgentExpired:
		f = unauthenticated(d.Code, d.Reason)
	case api.EngineError:
		f = unavailable()
		f.Problem.Detail = d.Reason
	default:
		f = newRefusal(http.StatusForbidden, api.CodeForbidden, d.Code, d.Reason)
	}
	f.Problem.AuditID, f.Problem.ApprovalID = d.AuditID, d.ApprovalID
	if d.RetryAfter > 0 {
		f.Problem.RetryAfter = d.RetryAfter.String()
		f.RetryAfter = time.Duration(d.RetryAfter)
	}
	return f
}
