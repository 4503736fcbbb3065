package client

import (
	"context"
	"net/http"
	"strconv"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// Authorize asks whether the agent may make the call; cc reports the end client's address
// and user agent (cc.Time is not sent: the server decides at its own time).
func (c *Client) Authorize(ctx context.Context, agentID string, req api.AuthorizeRequest, cc api.CallContext) (*api.Decision, error) {
	body := api.AuthorizeAgentRequest{AgentID: agentID, AuthorizeRequest: req}
	if cc.IP != "" || cc.UserAgent != "" {
		body.Context = &api.CallContext{IP: cc.IP, UserAgent: cc.UserAgent}
	}
	return send[api.Decision](ctx, c, call{method: http.MethodPost, path: "/v1/authorize", in: body})
}

// AuthorizeToken asks whether the agent holding token may make the call.
//
// A client with an API key (an app's, say, holding the token an agent sent it) asks at
// POST /v1/authorize under that key, with cc's address and user agent as the end client's,
// as Authorize does; a token of an agent the key cannot see is TOKEN_INVALID. A client
// without one presents the token itself at POST /v1/authorize/token: the server then takes
// the client address from the connection, so cc.IP is not sent, and cc.UserAgent is sent
// as the User-Agent header.
func (c *Client) AuthorizeToken(ctx context.Context, token string, req api.AuthorizeRequest, cc api.CallContext) (*api.Decision, error) {
	if token == "" {
		token = "-" // an empty credential is no credential: let the server judge it invalid
	}
	if c.apiKey != "" {
		body := api.AuthorizeAgentRequest{Token: token, AuthorizeRequest: req}
		if cc.IP != "" || cc.UserAgent != "" {
			body.Context = &api.CallContext{IP: cc.IP, UserAgent: cc.UserAgent}
		}
		return send[api.Decision](ctx, c, call{method: http.MethodPost, path: "/v1/authorize", in: body})
	}
	return send[api.Decision](ctx, c, call{method: http.MethodPost, path: "/v1/authorize/token", in: req, bearer: token, userAgent: cc.UserAgent})
}

// nilOr returns v, or nil with err.
func nilOr[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// send runs one call and decodes its answer into a new T.
func send[T any](ctx context.Context, c *Client, r call) (*T, error) {
	var v T
	r.out = &v
	return nilOr(&v, c.do(ctx, r))
}

// Agents returns the agent API.
func (c *Client) Agents() api.Agents { return agents{c} }

// Tenants returns the tenant API.
func (c *Client) Tenants() api.Tenants { return tenants{c} }

// Approvals returns the approval API.
func (c *Client) Approvals() api.Approvals { return approvals{c} }

// Delegations returns the delegation API.
func (c *Client) Delegations() api.Delegations { return delegations{c} }

// APIKeys returns the API key API.
func (c *Client) APIKeys() api.APIKeys { return apiKeys{c} }

type agents struct{ c *Client }

func (a agents) Create(ctx context.Context, req api.CreateAgentRequest) (*api.AgentWithToken, error) {
	return send[api.AgentWithToken](ctx, a.c, call{method: http.MethodPost, path: "/v1/agents", in: req})
}

func (a agents) Get(ctx context.Context, id string) (*agent.Agent, error) {
	return send[agent.Agent](ctx, a.c, call{method: http.MethodGet, path: path("v1", "agents", id)})
}

func (a agents) List(ctx context.Context, req api.ListAgentsRequest) (*api.AgentList, error) {
	q := values("tenantId", req.TenantID, "ownerId", req.OwnerID, "status", string(req.Status), "cursor", req.Cursor)
	if req.Limit != 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	return send[api.AgentList](ctx, a.c, call{method: http.MethodGet, path: "/v1/agents", query: q})
}

func (a agents) Update(ctx context.Context, id string, req api.UpdateAgentRequest) (*agent.Agent, error) {
	return send[agent.Agent](ctx, a.c, call{method: http.MethodPatch, path: path("v1", "agents", id), in: req})
}

func (a agents) Rotate(ctx context.Context, id string, req api.RotateRequest) (*api.RotateResult, error) {
	return send[api.RotateResult](ctx, a.c, call{method: http.MethodPost, path: path("v1", "agents", id, "rotate"), in: req})
}

func (a agents) Revoke(ctx context.Context, id string) (*agent.Agent, error) {
	return send[agent.Agent](ctx, a.c, call{method: http.MethodPost, path: path("v1", "agents", id, "revoke")})
}

func (a agents) Capabilities(ctx context.Context, id string) (*api.Capabilities, error) {
	return send[api.Capabilities](ctx, a.c, call{method: http.MethodGet, path: path("v1", "agents", id, "capabilities")})
}

func (a agents) ValidateToken(ctx context.Context, token string) (*agent.Agent, error) {
	return send[agent.Agent](ctx, a.c, call{method: http.MethodPost, path: "/v1/tokens/validate", in: api.ValidateTokenRequest{Token: token}})
}

type tenants struct{ c *Client }

func (t tenants) Create(ctx context.Context, req api.CreateTenantRequest) (*agent.Tenant, error) {
	return send[agent.Tenant](ctx, t.c, call{method: http.MethodPost, path: "/v1/tenants", in: req})
}

func (t tenants) Get(ctx context.Context, id string) (*agent.Tenant, error) {
	return send[agent.Tenant](ctx, t.c, call{method: http.MethodGet, path: path("v1", "tenants", id)})
}

func (t tenants) List(ctx context.Context) ([]agent.Tenant, error) {
	list, err := send[api.TenantList](ctx, t.c, call{method: http.MethodGet, path: "/v1/tenants"})
	if err != nil {
		return nil, err
	}
	return list.Tenants, nil
}

type approvals struct{ c *Client }

func (a approvals) List(ctx context.Context, req api.ListApprovalsRequest) (*api.ApprovalList, error) {
	q := values("status", string(req.Status), "agentId", req.AgentID)
	if req.Limit != 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	return send[api.ApprovalList](ctx, a.c, call{method: http.MethodGet, path: "/v1/approvals", query: q})
}

func (a approvals) Get(ctx context.Context, id string) (*agent.ApprovalRequest, error) {
	return send[agent.ApprovalRequest](ctx, a.c, call{method: http.MethodGet, path: path("v1", "approvals", id)})
}

func (a approvals) Approve(ctx context.Context, id string, req api.ApproveRequest) (*agent.ApprovalRequest, error) {
	return send[agent.ApprovalRequest](ctx, a.c, call{method: http.MethodPost, path: path("v1", "approvals", id, "approve"), in: req})
}

func (a approvals) Deny(ctx context.Context, id string, req api.DenyRequest) (*agent.ApprovalRequest, error) {
	return send[agent.ApprovalRequest](ctx, a.c, call{method: http.MethodPost, path: path("v1", "approvals", id, "deny"), in: req})
}

type delegations struct{ c *Client }

func (d delegations) Delegate(ctx context.Context, req api.DelegateRequest) (*agent.Delegation, error) {
	return send[agent.Delegation](ctx, d.c, call{method: http.MethodPost, path: "/v1/delegations", in: req})
}

func (d delegations) List(ctx context.Context, req api.ListDelegationsRequest) (*api.DelegationList, error) {
	q := values("agentId", req.AgentID, "direction", req.Direction)
	return send[api.DelegationList](ctx, d.c, call{method: http.MethodGet, path: "/v1/delegations", query: q})
}

func (d delegations) Get(ctx context.Context, id string) (*agent.Delegation, error) {
	return send[agent.Delegation](ctx, d.c, call{method: http.MethodGet, path: path("v1", "delegations", id)})
}

func (d delegations) Revoke(ctx context.Context, id string) (*agent.Delegation, error) {
	return send[agent.Delegation](ctx, d.c, call{method: http.MethodPost, path: path("v1", "delegations", id, "revoke")})
}

type apiKeys struct{ c *Client }

func (k apiKeys) Create(ctx context.Context, req api.CreateAPIKeyRequest) (*api.APIKeyWithSecret, error) {
	return send[api.APIKeyWithSecret](ctx, k.c, call{method: http.MethodPost, path: "/v1/api-keys", in: req})
}

func (k apiKeys) List(ctx context.Context, req api.ListAPIKeysRequest) (*api.APIKeyList, error) {
	q := values("tenantId", req.TenantID, "ownerId", req.OwnerID)
	return send[api.APIKeyList](ctx, k.c, call{method: http.MethodGet, path: "/v1/api-keys", query: q})
}

func (k apiKeys) Revoke(ctx context.Context, id string) (*agent.APIKey, error) {
	return send[agent.APIKey](ctx, k.c, call{method: http.MethodPost, path: path("v1", "api-keys", id, "revoke")})
}
