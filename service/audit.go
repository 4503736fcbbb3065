package service

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/api"
)

var auditFilters = []string{"tenantId", "agentId", "ownerId", "action", "resource", "result", "code", "since", "until"}

// auditQuery reads the audit filters (and, for queries, paging) from the query string.
func auditQuery(q url.Values) (api.AuditQuery, error) {
	aq := api.AuditQuery{
		TenantID: q.Get("tenantId"), AgentID: q.Get("agentId"), OwnerID: q.Get("ownerId"), Action: q.Get("action"),
		Resource: q.Get("resource"), Result: q.Get("result"), Code: q.Get("code"), Cursor: q.Get("cursor"),
		Order: q.Get("order"),
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
		return invalid("format", "%q is not json, ndjson or csv", format)
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

func (s *Server) verifyAudit(c echo.Context) error {
	q, err := query(c, "tenantId")
	if err != nil {
		return err
	}
	r, err := s.k.Audit().Verify(rctx(c), q.Get("tenantId"))
	return reply(c, http.StatusOK, r, err)
}

func (s *Server) policyStatus(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	st, err := s.k.PolicyStatus(rctx(c))
	return reply(c, http.StatusOK, st, err)
}
