package service

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// authorize judges one of the agents the caller may see, named by its id or by the token
// it presented to the app; the calling app reports the end client's address itself. A
// token of an agent the caller cannot see is TOKEN_INVALID, as the facade answers it. A
// decision is always 200: allowed says the answer, and only a request that could not be
// judged at all is an error.
func (s *Server) authorize(c echo.Context) error {
	var req api.AuthorizeAgentRequest
	if err := s.bindFast(c, &req, true, decodeInto(decodeAuthorizeAgent, &req)); err != nil {
		return err
	}
	if err := checkAuthorizeAgent(&req); err != nil {
		return err
	}
	var cc api.CallContext
	if req.Context != nil {
		cc = *req.Context
	}
	start := time.Now()
	var d *api.Decision
	var err error
	if req.Token != "" {
		d, err = s.k.AuthorizeToken(rctx(c), req.Token, req.AuthorizeRequest, cc)
	} else {
		d, err = s.k.Authorize(rctx(c), req.AgentID, req.AuthorizeRequest, cc)
	}
	s.metrics.decided(d, time.Since(start))
	return replyDecision(c, d, err)
}

// authorizeToken judges the agent holding the bearer token. The body cannot carry a
// client address: it comes from the connection, or from X-Forwarded-For only as far as
// trusted proxies wrote it, so an agent cannot claim an IP on an allowlist.
func (s *Server) authorizeToken(c echo.Context) error {
	var req api.AuthorizeRequest
	if err := s.bindFast(c, &req, true, decodeInto(decodeAuthorize, &req)); err != nil {
		return err
	}
	if err := checkAuthorize(&req); err != nil {
		return err
	}
	cc, err := s.tokenCallContext(c.Request())
	if err != nil {
		return err
	}
	token, _ := bearer(c.Request()) // requireAgentToken has checked it
	start := time.Now()
	d, err := s.k.AuthorizeToken(rctx(c), token, req, cc)
	s.metrics.decided(d, time.Since(start))
	return replyDecision(c, d, err)
}

// failClosed makes a decision route's request that fails on our side — the database
// unreachable while the caller's API key is looked up, say — a decision that fails closed
// rather than a 500: HTTP 200, allowed false, ENGINE_ERROR, as every decision is 200
// (DESIGN §10). Bad input and a missing or refused credential stay 4xx problems. The cause
// goes to the log.
func (s *Server) failClosed(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err == nil || c.Response().Committed || rctx(c).Err() != nil {
			return err // done, or no one left to answer
		}
		if status, _ := classify(err); status < http.StatusInternalServerError {
			return err
		}
		s.log.ErrorContext(rctx(c), "decision failed closed: the request could not be judged",
			"path", c.Request().URL.Path, "error", cause(err))
		d := &api.Decision{Code: api.EngineError, Reason: "internal error: the request could not be judged and failed closed"}
		s.metrics.decided(d, time.Since(start))
		return replyDecision(c, d, nil)
	}
}

func (s *Server) createDelegation(c echo.Context) error {
	var req api.DelegateRequest
	if err := s.bind(c, &req, true); err != nil {
		return err
	}
	d, err := s.k.Delegations().Delegate(rctx(c), req)
	return reply(c, http.StatusCreated, d, err)
}

func (s *Server) listDelegations(c echo.Context) error {
	q, err := query(c, "agentId", "direction")
	if err != nil {
		return err
	}
	list, err := s.k.Delegations().List(rctx(c), api.ListDelegationsRequest{AgentID: q.Get("agentId"), Direction: q.Get("direction")})
	return reply(c, http.StatusOK, list, err)
}

func (s *Server) getDelegation(c echo.Context) error {
	d, err := s.k.Delegations().Get(rctx(c), c.Param("id"))
	return reply(c, http.StatusOK, d, err)
}

func (s *Server) revokeDelegation(c echo.Context) error {
	if err := s.noBody(c); err != nil {
		return err
	}
	d, err := s.k.Delegations().Revoke(rctx(c), c.Param("id"))
	return reply(c, http.StatusOK, d, err)
}

func (s *Server) listApprovals(c echo.Context) error {
	q, err := query(c, "status", "agentId", "limit")
	if err != nil {
		return err
	}
	limit, err := intQuery(q, "limit")
	if err != nil {
		return err
	}
	list, err := s.k.Approvals().List(rctx(c), api.ListApprovalsRequest{
		Status: agent.ApprovalStatus(q.Get("status")), AgentID: q.Get("agentId"), Limit: limit,
	})
	return reply(c, http.StatusOK, list, err)
}

func (s *Server) getApproval(c echo.Context) error {
	a, err := s.k.Approvals().Get(rctx(c), c.Param("id"))
	return reply(c, http.StatusOK, a, err)
}

func (s *Server) approve(c echo.Context) error {
	var req api.ApproveRequest
	if err := s.bind(c, &req, false); err != nil {
		return err
	}
	a, err := s.k.Approvals().Approve(rctx(c), c.Param("id"), req)
	return reply(c, http.StatusOK, a, err)
}

func (s *Server) deny(c echo.Context) error {
	var req api.DenyRequest
	if err := s.bind(c, &req, false); err != nil {
		return err
	}
	a, err := s.k.Approvals().Deny(rctx(c), c.Param("id"), req)
	return reply(c, http.StatusOK, a, err)
}
