package service

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/api"
)

var auditFilters = []string{"tenantId", "agentId", "ownerId", "action", "resource", "result", "code", "traceId", "since", "until"}

// auditQuery reads the audit filters (and, for queries, paging) from the query string.
func auditQuery(q url.Values) (api.AuditQuery, error) {
	aq := api.AuditQuery{
		TenantID: q.Get("tenantId"), AgentID: q.Get("agentId"), OwnerID: q.Get("ownerId"), Action: q.Get("action"),
		Resource: q.Get("resource"), Result: q.Get("result"), Code: q.Get("code"), TraceID: q.Get("traceId"),
		Cursor: q.Get("cursor"), Order: q.Get("order"),
	}
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"since", &aq.Since}, {"until", &aq.Until}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return aq, invalid(f.name, "%q is not an RFC 3339 time", v)
			}
			*f.dst = &t
		}
	}
	var err error
	if aq.Limit, err = intQuery(q, "limit"); err != nil {
		return aq, err
	}
	if v := q.Get("afterSeq"); v != "" {
		if aq.AfterSeq, err = strconv.ParseInt(v, 10, 64); err != nil || aq.AfterSeq < 0 {
			return aq, invalid("afterSeq", "%q is not a sequence number", v)
		}
	}
	return aq, nil
}

func (s *Server) queryAudit(c echo.Context) error {
	q, err := query(c, append(auditFilters, "limit", "cursor", "order", "afterSeq")...)
	if err != nil {
		return err
	}
	aq, err := auditQuery(q)
	if err != nil {
		return err
	}
	page, err := s.k.Audit().Query(rctx(c), aq)
	return reply(c, http.StatusOK, page, err)
}

var exportTypes = map[string]string{
	"json":   "application/json",
	"ndjson": "application/x-ndjson",
	"csv":    "text/csv; charset=utf-8",
	"replay": "application/x-ndjson", // agents, then decisions: what policy replay reads offline
}

// exportAudit streams the export. It may run for a long time on a large ledger, so the
// server's write timeout is lifted for it; the client's context still ends it.
func (s *Server) exportAudit(c echo.Context) error {
	q, err := query(c, append(auditFilters, "format", "order")...)
	if err != nil {
		return err
	}
	aq, err := auditQuery(q)
	if err != nil {
		return err
	}
	format := q.Get("format")
	if format == "" {
		format = "ndjson"
	}
	ctype, ok := exportTypes[format]
	if !ok {
		return invalid("format", "%q is not json, ndjson, csv or replay", format)
	}
	_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Time{})
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, ctype)
	h.Set("Content-Disposition", `attachment; filename="kavach-audit.`+format+`"`)
	if err := s.k.Audit().Export(rctx(c), aq, format, c.Response()); err != nil {
		if !c.Response().Committed {
			h.Del("Content-Disposition")
			return err
		}
		s.log.Error("audit export ended early", "error", err)
	}
	return nil
}

// verifyAudit answers the verification report. Walking a large ledger takes longer than
// the server's write timeout, so the deadline is lifted for this route; the client's
// context still ends it. from=checkpoint verifies incrementally; with stream=true or
// Accept: application/x-ndjson the answer is NDJSON progress lines ending with the report.
func (s *Server) verifyAudit(c echo.Context) error {
	q, err := query(c, "tenantId", "from", "stream")
	if err != nil {
		return err
	}
	opts := api.AuditVerifyOptions{TenantID: q.Get("tenantId")}
	switch from := q.Get("from"); from {
	case "", "start":
	case "checkpoint":
		opts.Incremental = true
	default:
		return invalid("from", "%q is not start or checkpoint", from)
	}
	stream := strings.Contains(c.Request().Header.Get(echo.HeaderAccept), ndjson)
	if v := q.Get("stream"); v != "" {
		if stream, err = strconv.ParseBool(v); err != nil {
			return invalid("stream", "%q is not true or false", v)
		}
	}
	_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Time{})
	if !stream {
		r, err := verifyWith(rctx(c), s.k.Audit(), opts)
		return reply(c, http.StatusOK, r, err)
	}
	return s.streamVerify(c, opts)
}

const ndjson = "application/x-ndjson"

// verifyWith verifies with options where the facade supports them, and plainly otherwise.
func verifyWith(ctx context.Context, a api.Audit, opts api.AuditVerifyOptions) (*api.AuditReport, error) {
	if v, ok := a.(api.AuditVerifier); ok {
		return v.VerifyWith(ctx, opts)
	}
	if opts.Incremental {
		return nil, invalid("from", "this server verifies only from the start")
	}
	return a.Verify(ctx, opts.TenantID)
}

// streamVerify writes a line per progress report and the report last. Until the first line
// is written a failure is an ordinary problem response; after it, an error line.
func (s *Server) streamVerify(c echo.Context, opts api.AuditVerifyOptions) error {
	res := c.Response()
	enc := json.NewEncoder(res)
	write := func(l api.AuditVerifyLine) {
		if !res.Committed {
			res.Header().Set(echo.HeaderContentType, ndjson)
			res.Header().Set("Cache-Control", "no-store")
			res.WriteHeader(http.StatusOK)
		}
		if err := enc.Encode(l); err == nil {
			res.Flush()
		}
	}
	opts.Progress = func(p api.AuditProgress) { write(api.AuditVerifyLine{Progress: &p}) }
	r, err := verifyWith(rctx(c), s.k.Audit(), opts)
	switch {
	case err == nil:
		write(api.AuditVerifyLine{Report: r})
	case !res.Committed:
		return err
	default:
		status, ae := classify(err)
		if status >= http.StatusInternalServerError {
			s.log.ErrorContext(rctx(c), "audit verification ended early", "error", err)
		}
		p := api.ProblemOf(ae, status)
		write(api.AuditVerifyLine{Error: &p})
	}
	return nil
}

func (s *Server) policyStatus(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	st, err := s.k.PolicyStatus(rctx(c))
	return reply(c, http.StatusOK, st, err)
}
