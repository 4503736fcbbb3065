package mcpauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/tracecontext"
)

// JSON-RPC error codes of refused tool calls.
const (
	// DeniedCode is the error code of a call Kavach denied; the error's data is the
	// decision: {"code", "reason", "auditId", "approvalId"?, "retryAfter"?}. It lies
	// outside JSON-RPC's reserved range (-32768 to -32000), as an application's own errors
	// must: SDKs give codes in that range meanings of their own ("-32003 client closing").
	DeniedCode = -31403
	// parseError, invalidParams and internalError are JSON-RPC's own.
	parseError    = -32700
	invalidParams = -32602
	internalError = -32603
)

// Action is what a tool call is authorized as.
const Action = "call"

// message is the part of a JSON-RPC request the guard reads.
type message struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method"`
	Params struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
		// Meta is params._meta, read for the call's trace context.
		Meta map[string]json.RawMessage `json:"_meta"`
	} `json:"params"`
}

// rpcError is a JSON-RPC error response.
type rpcError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	} `json:"error"`
}

// DeniedData is the data of a DeniedCode error: Kavach's decision.
type DeniedData struct {
	Code       api.DecisionCode `json:"code"`
	Reason     string           `json:"reason"`
	AuditID    string           `json:"auditId,omitempty"`
	ApprovalID string           `json:"approvalId,omitempty"`
	RetryAfter string           `json:"retryAfter,omitempty"`
}

// authorizeCalls reads a POSTed JSON-RPC message (or batch) and asks Kavach about every
// tools/call in it. When all are allowed it puts the body back for next and returns true;
// otherwise it answers the request itself with JSON-RPC errors and returns false.
func (g *Guard) authorizeCalls(w http.ResponseWriter, r *http.Request, c *Claims) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, g.cfg.MaxBodyBytes+1))
	if err != nil {
		http.Error(w, "reading the request failed", http.StatusBadRequest)
		return false
	}
	if int64(len(body)) > g.cfg.MaxBodyBytes {
		http.Error(w, "the request body is too large", http.StatusRequestEntityTooLarge)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	msgs, batch := parseMessages(body)
	if msgs == nil {
		// Not JSON-RPC as the guard reads it. Refused rather than forwarded: a server that
		// reads it differently must not run a call that Kavach did not judge.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(newRPCError(nil, parseError, "Parse error: the body is not a JSON-RPC message or batch", nil))
		return false
	}
	var refusals []*rpcError
	for _, m := range msgs {
		if m.Method != "tools/call" {
			continue
		}
		if e := g.decide(r, c, m); e != nil {
			refusals = append(refusals, e)
		}
	}
	if len(refusals) == 0 {
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !batch {
		_ = json.NewEncoder(w).Encode(refusals[0])
		return false
	}
	// A batch is forwarded whole or not at all: every request in it is answered.
	out := make([]*rpcError, 0, len(msgs))
	for _, m := range msgs {
		if len(m.ID) == 0 {
			continue
		}
		e := findRefusal(refusals, m.ID)
		if e == nil {
			e = newRPCError(m.ID, internalError, "not processed: another call in this batch was refused", nil)
		}
		out = append(out, e)
	}
	_ = json.NewEncoder(w).Encode(out)
	return false
}

func parseMessages(body []byte) ([]message, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var msgs []message
		if json.Unmarshal(trimmed, &msgs) != nil {
			return nil, true
		}
		return msgs, true
	}
	var m message
	if json.Unmarshal(trimmed, &m) != nil {
		return nil, false
	}
	return []message{m}, false
}

func findRefusal(refusals []*rpcError, id json.RawMessage) *rpcError {
	for _, e := range refusals {
		if bytes.Equal(e.ID, id) {
			return e
		}
	}
	return nil
}

// decide authorizes one tools/call and returns nil when it may proceed.
func (g *Guard) decide(r *http.Request, c *Claims, m message) *rpcError {
	tool := m.Params.Name
	if tool == "" || strings.ContainsAny(tool, ":* \t\r\n") {
		return newRPCError(m.ID, invalidParams, fmt.Sprintf("tool name %q cannot be authorized", tool), nil)
	}
	var args map[string]any
	if len(m.Params.Arguments) > 0 && string(m.Params.Arguments) != "null" {
		if err := json.Unmarshal(m.Params.Arguments, &args); err != nil {
			return newRPCError(m.ID, invalidParams, "the tool's arguments must be an object", nil)
		}
	}
	// The call is decided in its own trace context, from params._meta, when it has one;
	// otherwise in the HTTP request's (Wrap continued its traceparent header).
	ctx := tracecontext.FromMeta(r.Context(), m.Params.Meta)
	if g.cfg.Actor != nil {
		ctx = api.WithActor(ctx, *g.cfg.Actor)
	}
	d, err := g.cfg.Authorizer.Authorize(ctx, c.AgentID, api.AuthorizeRequest{
		Action: Action, Resource: "mcp:" + g.cfg.Server + ":" + tool, Arguments: args,
	}, api.CallContext{IP: g.cfg.ClientIP(r), UserAgent: r.UserAgent()})
	if err != nil {
		return g.failed(ctx, m.ID, tool, err)
	}
	if d.Allowed {
		return nil
	}
	data := DeniedData{Code: d.Code, Reason: d.Reason, AuditID: d.AuditID, ApprovalID: d.ApprovalID}
	if d.RetryAfter > 0 {
		data.RetryAfter = d.RetryAfter.String()
	}
	msg := fmt.Sprintf("Kavach denied calling %s: %s", tool, d.Code)
	if d.Reason != "" {
		msg += " (" + d.Reason + ")"
	}
	return newRPCError(m.ID, DeniedCode, msg, data)
}

// failed turns an authorize error into a refusal: the call does not run (fail closed).
func (g *Guard) failed(ctx context.Context, id json.RawMessage, tool string, err error) *rpcError {
	if api.IsInvalidInput(err) {
		return newRPCError(id, invalidParams, "the call cannot be authorized: "+err.Error(), nil)
	}
	g.log.ErrorContext(ctx, "mcpauth: authorize failed; the call is refused", "tool", tool, "error", err)
	var ae *api.Error
	reason := "the authorization service failed"
	if errors.As(err, &ae) && ae.Code != api.CodeInternal {
		reason += ": " + string(ae.Code)
	}
	return newRPCError(id, DeniedCode, "Kavach could not authorize calling "+tool, DeniedData{Code: api.EngineError, Reason: reason})
}

func newRPCError(id json.RawMessage, code int, message string, data any) *rpcError {
	e := &rpcError{JSONRPC: "2.0", ID: id}
	if len(e.ID) == 0 {
		e.ID = json.RawMessage("null")
	}
	e.Error.Code, e.Error.Message, e.Error.Data = code, message, data
	return e
}
