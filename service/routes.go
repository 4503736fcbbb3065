package service

import (
	"strings"

	"github.com/labstack/echo/v4"
)

// register declares every route. docs/openapi.yaml documents exactly these; a test keeps
// the two in step.
func (s *Server) register() {
	key := s.requireAPIKey
	s.add(echo.GET, "/healthz", s.healthz)
	s.add(echo.GET, "/readyz", s.readyz)
	s.add(echo.GET, "/metrics", s.serveMetrics)

	s.add(echo.POST, "/v1/tenants", s.createTenant, key)
	s.add(echo.GET, "/v1/tenants", s.listTenants, key)
	s.add(echo.GET, "/v1/tenants/:id", s.getTenant, key)

	s.add(echo.POST, "/v1/api-keys", s.createAPIKey, key)
	s.add(echo.GET, "/v1/api-keys", s.listAPIKeys, key)
	s.add(echo.POST, "/v1/api-keys/:id/revoke", s.revokeAPIKey, key)

	s.add(echo.POST, "/v1/agents", s.createAgent, key)
	s.add(echo.GET, "/v1/agents", s.listAgents, key)
	s.add(echo.GET, "/v1/agents/:id", s.getAgent, key)
	s.add(echo.GET, "/v1/agents/:id/capabilities", s.agentCapabilities, key)
	s.add(echo.PATCH, "/v1/agents/:id", s.updateAgent, key)
	s.add(echo.POST, "/v1/agents/:id/rotate", s.rotateAgent, key)
	s.add(echo.POST, "/v1/agents/:id/revoke", s.revokeAgent, key)
	s.add(echo.POST, "/v1/tokens/validate", s.validateToken, key)

	// A decision route fails closed: a failure of ours is a decision, not a 500.
	s.add(echo.POST, "/v1/authorize", s.authorize, s.failClosed, key)
	// The agent's own "kv_" token is the credential here, not an API key.
	s.add(echo.POST, "/v1/authorize/token", s.authorizeToken, s.failClosed, s.requireAgentToken)

	s.add(echo.POST, "/v1/delegations", s.createDelegation, key)
	s.add(echo.GET, "/v1/delegations", s.listDelegations, key)
	s.add(echo.GET, "/v1/delegations/:id", s.getDelegation, key)
	s.add(echo.POST, "/v1/delegations/:id/revoke", s.revokeDelegation, key)

	s.add(echo.GET, "/v1/approvals", s.listApprovals, key)
	s.add(echo.GET, "/v1/approvals/:id", s.getApproval, key)
	s.add(echo.POST, "/v1/approvals/:id/approve", s.approve, key)
	s.add(echo.POST, "/v1/approvals/:id/deny", s.deny, key)

	s.registerAuditRoutes(key)
	s.registerAuthZENRoutes()
}

// registerAuditRoutes adds the audit routes — query, streamed export and verification —
// and the policy status.
func (s *Server) registerAuditRoutes(key echo.MiddlewareFunc) {
	s.add(echo.GET, "/v1/audit", s.queryAudit, key)
	s.add(echo.GET, "/v1/audit/export", s.exportAudit, key)
	s.add(echo.GET, "/v1/audit/verify", s.verifyAudit, key)
	s.add(echo.GET, "/v1/policy/status", s.policyStatus, key)
	s.add(echo.POST, "/v1/policy/replay", s.replayPolicy, key)
}

func (s *Server) add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	if strings.Contains(path, "/:") {
		h = checkPathIDs(h)
	}
	// Echo would wrap a route's middleware around its handler on every request; wrap once.
	for i := len(m) - 1; i >= 0; i-- {
		h = m[i](h)
	}
	h = checkURI(h) // before anything else, the credential included
	s.echo.Add(method, path, h)
	s.known[path] = true
	s.routes = append(s.routes, Route{Method: method, Path: openAPIPath(path)})
}

// openAPIPath turns Echo's ":id" parameters into OpenAPI's "{id}".
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, seg := range parts {
		if strings.HasPrefix(seg, ":") {
			parts[i] = "{" + seg[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}
