package mcpgateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// invalidRequest is JSON-RPC's code for a request that is not acceptable.
const invalidRequest = -32600

// message is the part of a JSON-RPC message the gateway reads.
type message struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
		// Meta is params._meta, read for the message's trace context.
		Meta map[string]json.RawMessage `json:"_meta"`
	} `json:"params"`
}

// readMessages reads the request's JSON-RPC message or batch and puts the body back. A
// body that is not JSON-RPC yields no messages: the upstream answers it.
func readMessages(r *http.Request) ([]message, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, errors.New("reading the request failed")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var msgs []message
		if json.Unmarshal(body, &msgs) != nil {
			return nil, nil
		}
		return msgs, nil
	}
	var m message
	if json.Unmarshal(body, &m) != nil {
		return nil, nil
	}
	return []message{m}, nil
}

func writeRPCError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg},
	})
}
