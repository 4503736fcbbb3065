package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// statusError is an api.Error answered with a status other than its code's own: 405, 413
// and 415 are bad input of particular kinds.
type statusError struct {
	status int
	err    *api.Error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func invalid(field, format string, args ...any) *api.Error {
	return &api.Error{Code: api.CodeInvalidInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

func unauthenticated(format string, args ...any) *api.Error {
	return api.Errorf(api.CodeUnauthenticated, format, args...)
}

// errInternal is all a client learns of a failure on our side; the cause goes to the log.
var errInternal = &api.Error{Code: api.CodeInternal, Message: "internal error"}

// handleError is the one place where errors become responses: an application/problem+json
// document (RFC 9457) carrying the error's code and, where present, field and reason.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, ae := classify(err)
	if (status == http.StatusNotFound || status == http.StatusMethodNotAllowed) && uriTooLong(c.Request()) {
		status, ae = classify(errURITooLong)
	}
	if status >= http.StatusInternalServerError {
		s.log.ErrorContext(c.Request().Context(), "request failed", "method", c.Request().Method,
			"path", c.Request().URL.Path, "error", cause(err))
	}
	h := c.Response().Header()
	authzenEchoRequestID(c) // for an AuthZEN request refused before its route's middleware
	if status == http.StatusUnauthorized {
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="kavach"`)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	b, merr := json.Marshal(api.ProblemOf(ae, status))
	if merr != nil {
		b = []byte(`{"type":"urn:kavach:problem:internal","title":"Internal Server Error","status":500,"code":"internal"}`)
	}
	h.Set("Cache-Control", "no-store")
	if werr := c.Blob(status, api.ProblemContentType, b); werr != nil {
		s.log.DebugContext(c.Request().Context(), "writing error response failed", "error", werr)
	}
}

// cause is what went wrong beneath err: an *api.Error of our own failure says only
// "internal error" and keeps the cause, which belongs in the log, in Err.
func cause(err error) error {
	var ae *api.Error
	if errors.As(err, &ae) && ae.Err != nil {
		return ae.Err
	}
	return err
}

// classify finds the status and the client-facing error for err.
func classify(err error) (int, *api.Error) {
	var se *statusError
	if errors.As(err, &se) {
		return se.status, se.err
	}
	var ve *agent.ValidationError
	if errors.As(err, &ve) {
		return http.StatusBadRequest, &api.Error{Code: api.CodeInvalidInput, Field: ve.Field, Message: ve.Error()}
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		if ae.Code.HTTPStatus() >= http.StatusInternalServerError {
			return http.StatusInternalServerError, errInternal
		}
		return ae.Code.HTTPStatus(), ae
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := fmt.Sprint(he.Message)
		switch {
		case he.Code == http.StatusNotFound:
			return he.Code, api.Errorf(api.CodeNotFound, "no such route")
		case he.Code == http.StatusMethodNotAllowed:
			e := api.Errorf(api.CodeInvalidInput, "method not allowed on this route")
			e.Reason = "METHOD_NOT_ALLOWED"
			return he.Code, e
		case he.Code >= 400 && he.Code < 500:
			return he.Code, api.Errorf(api.CodeForStatus(he.Code), "%s", msg)
		}
	}
	return http.StatusInternalServerError, errInternal
}
