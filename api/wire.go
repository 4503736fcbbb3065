package api

import "github.com/kavachos/kavach-go/agent"

// Bodies of HTTP routes that have no counterpart in the Go interface's signatures. The
// server and the HTTP client share them, so the wire shape is written down once.

// AuthorizeAgentRequest is the body of POST /v1/authorize: the agent to judge, named by
// its id or by the token it presented (exactly one of the two), the call, and the end
// client's context as the calling app reports it.
type AuthorizeAgentRequest struct {
	AgentID string `json:"agentId,omitempty"`
	// Token is the agent's own "kv_" token, for an app that holds the token an agent sent
	// it rather than the agent's id.
	Token string `json:"token,omitempty"`
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
