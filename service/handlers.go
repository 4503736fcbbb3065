package service

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// rctx is the request's context, which carries the authenticated actor.
func rctx(c echo.Context) context.Context { return c.Request().Context() }

// reply answers v with status, or hands err to the error mapping.
func reply[T any](c echo.Context, status int, v T, err error) error {
	if err != nil {
		return err
	}
	return c.JSON(status, v)
}

// noBody refuses a body on routes that take none (an empty object is fine).
func (s *Server) noBody(c echo.Context) error {
	var none struct{}
	return s.bind(c, &none, false)
}

func (s *Server) createTenant(c echo.Context) error {
	var req api.CreateTenantRequest
	if err := s.bind(c, &req, true); err != nil {
		return err
	}
	t, err := s.k.Tenants().Create(rctx(c), req)
	return reply(c, http.StatusCreated, t, err)
}

func (s *Server) listTenants(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	ts, err := s.k.Tenants().List(rctx(c))
	if ts == nil {
		ts = []agent.Tenant{}
	}
	return reply(c, http.StatusOK, api.TenantList{Tenants: ts}, err)
}

func (s *Server) getTenant(c echo.Context) error {
	t, err := s.k.Tenants().Get(rctx(c), c.Param("id"))
	return reply(c, http.StatusOK, t, err)
}

func (s *Server) createAPIKey(c echo.Context) error {
	var req api.CreateAPIKeyRequest
	if err := s.bind(c, &req, true); err != nil {
		return err
	}
	k, err := s.k.APIKeys().Create(rctx(c), req)
	return reply(c, http.StatusCreated, k, err)
}

func (s *Server) listAPIKeys(c echo.Context) error {
	q, err := query(c, "tenantId", "ownerId")
	if err != nil {
		return err
	}
	list, err := s.k.APIKeys().List(rctx(c), api.ListAPIKeysRequest{TenantID: q.Get("tenantId"), OwnerID: q.Get("ownerId")})
	return reply(c, http.StatusOK, list, err)
}

func (s *Server) revokeAPIKey(c echo.Context) error {
	if err := s.noBody(c); err != nil {
		return err
	}
	k, err := s.k.APIKeys().Revoke(rctx(c), c.Param("id"))
	return reply(c, http.StatusOK, k, err)
}

func (s *Server) createAgent(c echo.Context) error {
	var req api.CreateAgentRequest
	if err := s.bind(c, &req, true); err != nil {
		return err
	}
	a, err := s.k.Agents().Create(rctx(c), req)
	return reply(c, http.StatusCreated, a, err)
}

func (s *Server) listAgents(c echo.Context) error {
	q, err := query(c, "tenantId", "ownerId", "status", "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := intQuery(q, "limit")
	if err != nil {
		return err
	}
	list, err := s.k.Agents().List(rctx(c), api.ListAgentsRequest{
		TenantID: q.Get("tenantId"), OwnerID: q.Get("ownerId"), Status: agent.Status(q.Get("status")),
		Limit: limit, Cursor: q.Get("cursor"),
	})
	if err == nil && list.Agents == nil {
		list.Agents = []agent.Agent{}
	}
	return reply(c, http.StatusOK, list, err)
}

func (s *Server) getAgent(c echo.Context) error {
	a, err := s.k.Agents().Get(rctx(c), c.Param("id"))
	return reply(c, http.StatusOK, a, err)
}

func (s *Server) updateAgent(c echo.Context) error {
	var req api.UpdateAgentRequest
	if err := s.bind(c, &req, true); err != nil {
		return err
	}
	a, err := s.k.Agents().Update(rctx(c), c.Param("id"), req)
	return reply(c, http.StatusOK, a, err)
}

func (s *Server) rotateAgent(c echo.Context) error {
	var req api.RotateRequest
	if err := s.bind(c, &req, false); err != nil {
		return err
	}
	res, err := s.k.Agents().Rotate(rctx(c), c.Param("id"), req)
	return reply(c, http.StatusOK, res, err)
}

func (s *Server) revokeAgent(c echo.Context) error {
	if err := s.noBody(c); err != nil {
		return err
	}
	a, err := s.k.Agents().Revoke(rctx(c), c.Param("id"))
	return reply(c, http.StatusOK, a, err)
}

func (s *Server) validateToken(c echo.Context) error {
	var req api.ValidateTokenRequest
	if err := s.bind(c, &req, true); err != nil {
		return err
	}
	a, err := s.k.Agents().ValidateToken(rctx(c), req.Token)
	return reply(c, http.StatusOK, a, err)
}
