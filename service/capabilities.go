package service

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// agentCapabilities answers GET /v1/agents/{id}/capabilities: the agent's effective grants.
func (s *Server) agentCapabilities(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	caps, err := s.k.Agents().Capabilities(rctx(c), c.Param("id"))
	return reply(c, http.StatusOK, caps, err)
}
