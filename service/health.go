package service

import (
	"context"
	"errors"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/lifecycle"
)

// healthz says the process is up. It checks nothing else, so a slow database never gets a
// live process restarted.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether to send traffic here: the store answers and no shutdown has begun.
func (s *Server) readyz(c echo.Context) error {
	unavailable := func(msg string) error {
		return &statusError{http.StatusServiceUnavailable, &api.Error{Code: api.CodeInternal, Message: msg}}
	}
	if s.draining.Load() {
		return unavailable("shutting down")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.k.Ready(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "error", err)
		var se *lifecycle.StateError
		if errors.As(err, &se) {
			return unavailable(err.Error())
		}
		return unavailable("the store does not answer")
	}
	// Each part's state, the policy revision in force, and the last one refused if any, are
	// part of the answer: a refused bundle leaves the service ready on the previous
	// revision, but visibly so.
	body := map[string]any{"status": "ready"}
	if parts := s.k.Parts(); len(parts) > 0 {
		body["parts"] = parts
	}
	if st, err := s.k.PolicyStatus(kavach.WithActor(ctx, api.Root)); err == nil {
		policy := map[string]any{"revision": st.Revision}
		if st.LastError != "" {
			policy["lastError"], policy["lastErrorAt"] = st.LastError, st.LastErrorAt
		}
		body["policy"] = policy
	}
	return c.JSON(http.StatusOK, body)
}

// recoverPanics turns a panic in a handler into a 500 problem and a logged stack, so one bad
// request never takes the server down.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.ErrorContext(c.Request().Context(), "panic in handler", "panic", r, "path", c.Request().URL.Path,
				"stack", string(debug.Stack()))
			err = errInternal
		}()
		return next(c)
	}
}
