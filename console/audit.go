package console

import (
	"net/http"
	"net/url"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// chartEvents bounds how many events the chart is drawn from.
const chartEvents = 1000

type auditView struct {
	Filter     auditFilter
	Events     []agent.AuditEvent
	NextCursor string
	Chart      chart
	Verify     *api.AuditReport
	Exports    map[string]string
	NextURL    string
}

// auditFilter is the filter form's fields, as typed.
type auditFilter struct {
	Agent, Action, Resource, Result, Code, Since, Until string
}

func (f auditFilter) query() (api.AuditQuery, error) {
	q := api.AuditQuery{AgentID: f.Agent, Action: f.Action, Resource: f.Resource, Result: f.Result, Code: f.Code}
	for _, t := range []struct {
		field, v string
		dst      **time.Time
	}{{"since", f.Since, &q.Since}, {"until", f.Until, &q.Until}} {
		if t.v == "" {
			continue
		}
		at, err := parseTime(t.v)
		if err != nil {
			return q, &api.Error{Code: api.CodeInvalidInput, Field: t.field, Message: t.field + ": not a time such as 2026-11-30T09:00 or 2026-11-30T09:00:00Z"}
		}
		*t.dst = &at
	}
	return q, nil
}

// values is the filter as URL parameters, for export and paging links.
func (f auditFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"agent": f.Agent, "action": f.Action, "resource": f.Resource,
		"result": f.Result, "code": f.Code, "since": f.Since, "until": f.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// parseTime takes what a datetime-local input sends (read as UTC) or RFC 3339.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	_, err := time.Parse(time.RFC3339, s)
	return time.Time{}, err
}

func filterFrom(r *http.Request) auditFilter {
	return auditFilter{Agent: trimmed(r, "agent"), Action: trimmed(r, "action"), Resource: trimmed(r, "resource"),
		Result: trimmed(r, "result"), Code: trimmed(r, "code"), Since: trimmed(r, "since"), Until: trimmed(r, "until")}
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	f := filterFrom(r)
	q, err := f.query()
	if err != nil {
		c.fail(w, s, err)
		return
	}
	q.Limit, q.Cursor = api.DefaultLimit, r.URL.Query().Get("cursor")
	page, err := c.k.Audit().Query(ctx, q)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	cq := q
	cq.Limit, cq.Cursor = chartEvents, ""
	all, err := c.k.Audit().Query(ctx, cq)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	v := auditView{Filter: f, Events: page.Events, NextCursor: page.NextCursor, Chart: decisionChart(all.Events),
		Exports: map[string]string{}}
	for _, format := range []string{"csv", "ndjson", "json"} {
		p := f.values()
		p.Set("format", format)
		v.Exports[format] = Prefix + "/audit/export?" + p.Encode()
	}
	if page.NextCursor != "" {
		p := f.values()
		p.Set("cursor", page.NextCursor)
		v.NextURL = Prefix + "/audit?" + p.Encode()
	}
	if s.Role == api.RoleAdmin {
		if v.Verify, err = c.k.Audit().Verify(ctx, ""); err != nil {
			c.fail(w, s, err)
			return
		}
	}
	c.render(w, http.StatusOK, "audit", c.view(s, "audit", "Audit", r, v))
}

var exportTypes = map[string]string{"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson", "json": "application/json"}

// auditExport is GET /v1/audit/export through the console session.
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request, s *session) {
	format := r.URL.Query().Get("format")
	ct, ok := exportTypes[format]
	if !ok {
		c.fail(w, s, &api.Error{Code: api.CodeInvalidInput, Field: "format", Message: "format: csv, ndjson or json"})
		return
	}
	q, err := filterFrom(r).query()
	if err != nil {
		c.fail(w, s, err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="kavach-audit.`+format+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := c.k.Audit().Export(c.ctx(r, s), q, format, w); err != nil {
		c.log.Error("console: audit export failed", "error", err)
	}
}
