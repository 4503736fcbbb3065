package api

import "github.com/kavachos/kavach-go/agent"

// Bodies of HTTP routes that have no counterpart in the Go interface's signatures. The
// server and the HTTP client share them, so the wire shape is written down once.

// AuthorizeAgentRequest is the body of POST /v1/authorize: the agent to judge, the call,
// and the end client's context as the calling app reports it.
type AuthorizeAgentRequest struct {
	AgentID string `json:"agentId"`
	AuthorizeRequest
	Context *CallContext `json:"context,omitempty"`
}

// ValidateTokenRequest is the body of POST /v1/tokens/validate.
type ValidateTokenRequest struct {
	Token string `json:"token"`
}

// TenantList is the answer of GET /v1/tenants.
type TenantList struct {
	Tenants []agent.Tenant `json:"tenants"`
}
