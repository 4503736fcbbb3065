package service

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/api"
)

// policyReplayer is the facade's ledger replay; a facade without it answers 501.
type policyReplayer interface {
	ReplayBundle(ctx context.Context, req api.ReplayRequest, bundle io.Reader) (*api.ReplayReport, error)
}

// replayPolicy re-decides recorded decisions under the candidate bundle in the body and
// answers the report. It reads the ledger as a stream and may run for a while, so the
// server's write timeout is lifted for it; the client's context still ends it.
func (s *Server) replayPolicy(c echo.Context) error {
	pr, ok := s.k.(policyReplayer)
	if !ok {
		return &statusError{http.StatusNotImplemented, api.Errorf(api.CodeInternal, "this server cannot replay its ledger")}
	}
	q, err := query(c, "tenantId", "since", "fromSeq", "toSeq", "limit", "top")
	if err != nil {
		return err
	}
	req := api.ReplayRequest{TenantID: q.Get("tenantId")}
	if v := q.Get("since"); v != "" {
		if req.Since, err = api.ParseSince(v, time.Now()); err != nil || strings.HasPrefix(v, "-") {
			return invalid("since", "%q is neither an RFC 3339 time nor a duration such as 24h", v)
		}
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"fromSeq", &req.FromSeq}, {"toSeq", &req.ToSeq}, {"limit", &req.Limit}} {
		if v := q.Get(f.name); v != "" {
			if *f.dst, err = strconv.ParseInt(v, 10, 64); err != nil || *f.dst < 0 {
				return invalid(f.name, "%q is not a non-negative integer", v)
			}
		}
	}
	if req.Top, err = intQuery(q, "top"); err != nil {
		return err
	}
	var buf []byte
	body, err := s.readBody(c, &buf)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return invalid("body", "the body is the candidate bundle: a .tar.gz built by `kavach bundle build` or `opa build`")
	}
	_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Time{})
	rep, err := pr.ReplayBundle(rctx(c), req, bytes.NewReader(body))
	return reply(c, http.StatusOK, rep, err)
}
