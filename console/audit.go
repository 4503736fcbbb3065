package console

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// chartEvents bounds how many events the chart (and the count) is drawn from.
const chartEvents = 1000

// results and codes are the filter's choices.
var (
	results = []string{"allowed", "denied", "approval_required", "rate_limited", "check", "ok"}
	codes   = []api.DecisionCode{api.Allowed, api.NoPermission, api.ApprovalRequired, api.ApprovalDenied, api.RateLimited,
		api.OutsideTimeWindow, api.IPNotAllowed, api.ArgumentNotAllowed, api.PolicyDenied, api.AgentNotFound,
		api.AgentRevoked, api.AgentExpired, api.TokenInvalid, api.EngineError, api.PolicyNotLoaded}
)

type auditView struct {
	Filter  auditFilter
	Events  []agent.AuditEvent
	Names   map[string]string
	Agents  []agentChoice
	Results []string
	Codes   []string
	Chart   chart
	Verify  *api.AuditReport
	Exports map[string]string
	// Paging: links to older and newer events, and where this page sits.
	OlderURL, NewerURL string
	From, To, Total    int
	TotalCapped        bool
}

type agentChoice struct{ ID, Name string }

// auditFilter is the filter form's fields, as typed. TZ is the viewer's time zone (the
// script fills it in), in which Since and Until are read; without it, UTC.
type auditFilter struct {
	Agent, Action, Resource, Result, Code, Since, Until, TZ string
	// Errors are what is wrong with a field, by field name.
	Errors map[string]string
}

func filterFrom(r *http.Request) auditFilter {
	return auditFilter{Agent: trimmed(r, "agent"), Action: trimmed(r, "action"), Resource: trimmed(r, "resource"),
		Result: strings.ToLower(trimmed(r, "result")), Code: strings.ToUpper(trimmed(r, "code")),
		Since: trimmed(r, "since"), Until: trimmed(r, "until"), TZ: trimmed(r, "tz")}
}

// query turns the filter into an API query. The agent may be given by id or by name.
func (f *auditFilter) query(names map[string]string) api.AuditQuery {
	f.Errors = map[string]string{}
	q := api.AuditQuery{Action: f.Action, Resource: f.Resource, Result: f.Result, Code: f.Code}
	if f.Agent != "" {
		q.AgentID = f.agentID(names)
	}
	loc := time.UTC
	if f.TZ != "" {
		if l, err := time.LoadLocation(f.TZ); err == nil {
			loc = l
		}
	}
	for _, t := range []struct {
		field, label, v string
		dst             **time.Time
	}{{"since", "Since", f.Since, &q.Since}, {"until", "Until", f.Until, &q.Until}} {
		if t.v == "" {
			continue
		}
		at, err := parseTime(t.v, loc)
		if err != nil {
			f.Errors[t.field] = t.label + ": enter a date and time such as 2026-11-30 09:00."
			continue
		}
		*t.dst = &at
	}
	if f.Resource != "" {
		if err := agent.ValidateResourcePattern(f.Resource); err != nil {
			f.Errors["resource"] = "Resource: not a resource pattern such as mcp:github:*."
		}
	}
	return q
}

// agentID finds the agent the filter names: an id, or the name of exactly one agent; if
// it finds none, it says why in f.Errors.
func (f *auditFilter) agentID(names map[string]string) string {
	if _, ok := names[f.Agent]; ok || strings.HasPrefix(f.Agent, agent.PrefixAgent) {
		return f.Agent
	}
	var ids []string
	for id, n := range names {
		if strings.EqualFold(n, f.Agent) {
			ids = append(ids, id)
		}
	}
	switch len(ids) {
	case 1:
		return ids[0]
	case 0:
		f.Errors["agent"] = "Agent: no agent you can see is named " + strconv.Quote(f.Agent) + " or has that id."
	default:
		slices.Sort(ids)
		f.Errors["agent"] = "Agent: several agents are named " + strconv.Quote(f.Agent) + "; enter one of their ids: " + strings.Join(ids, ", ") + "."
	}
	return ""
}

// values is the filter as URL parameters, for export and paging links.
func (f auditFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"agent": f.Agent, "action": f.Action, "resource": f.Resource,
		"result": f.Result, "code": f.Code, "since": f.Since, "until": f.Until, "tz": f.TZ} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// parseTime takes what a datetime-local input sends, read in loc, or RFC 3339.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	var err error
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		var t time.Time
		if t, err = time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	names := c.agentNames(ctx)
	f := filterFrom(r)
	q := f.query(names)
	v := auditView{Filter: f, Names: names, Results: results, Exports: map[string]string{}}
	for _, code := range codes {
		v.Codes = append(v.Codes, string(code))
	}
	if f.Code != "" && !slices.Contains(v.Codes, f.Code) {
		v.Codes = append(v.Codes, f.Code) // a custom rule's code, from a link
	}
	for id, n := range names {
		v.Agents = append(v.Agents, agentChoice{ID: id, Name: n})
	}
	sort.Slice(v.Agents, func(i, j int) bool { return v.Agents[i].Name+v.Agents[i].ID < v.Agents[j].Name+v.Agents[j].ID })
	status := http.StatusOK
	if len(f.Errors) > 0 {
		status = http.StatusBadRequest
		c.render(w, status, "audit", c.view(s, "audit", "Audit", v))
		return
	}
	if err := c.auditEvents(ctx, r, q, &v); err != nil {
		c.fail(w, s, err)
		return
	}
	for _, format := range []string{"csv", "ndjson", "json"} {
		p := f.values()
		p.Set("format", format)
		v.Exports[format] = Prefix + "/audit/export?" + p.Encode()
	}
	if s.Role == api.RoleAdmin {
		var err error
		if v.Verify, err = c.k.Audit().Verify(ctx, ""); err != nil {
			c.fail(w, s, err)
			return
		}
	}
	c.render(w, status, "audit", c.view(s, "audit", "Audit", v))
}

// auditEvents fills in one page of events, the chart, the count and the paging links.
// Older pages follow the API's cursor; newer ones read forward from the page's newest
// event (after=seq) and are shown newest first like the rest.
func (c *Console) auditEvents(ctx context.Context, r *http.Request, q api.AuditQuery, v *auditView) error {
	page := q
	page.Limit, page.Cursor = api.DefaultLimit, r.URL.Query().Get("cursor")
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if after > 0 {
		page.Cursor, page.Order, page.AfterSeq = "", "asc", after
	}
	got, err := c.k.Audit().Query(ctx, page)
	if err != nil {
		return err
	}
	v.Events = got.Events
	for _, e := range v.Events {
		c.nameAll(ctx, v.Names, e.AgentID)
	}
	if after > 0 {
		slices.Reverse(v.Events)
	}
	cq := q
	cq.Limit = chartEvents
	all, err := c.k.Audit().Query(ctx, cq)
	if err != nil {
		return err
	}
	v.Chart = decisionChart(all.Events)
	v.Total, v.TotalCapped = len(all.Events), all.NextCursor != ""
	if len(v.Events) == 0 {
		return nil
	}
	newest, oldest := v.Events[0].Seq, v.Events[len(v.Events)-1].Seq
	newer := 0
	for _, e := range all.Events {
		if e.Seq > newest {
			newer++
		}
	}
	v.From, v.To = newer+1, newer+len(v.Events)
	if newer > 0 || (v.TotalCapped && all.Events[len(all.Events)-1].Seq > newest) {
		p := v.Filter.values()
		p.Set("after", strconv.FormatInt(newest, 10))
		v.NewerURL = Prefix + "/audit?" + p.Encode()
	}
	if (after == 0 && got.NextCursor != "") || (after > 0 && olderExists(all.Events, oldest, v.TotalCapped)) {
		p := v.Filter.values()
		p.Set("cursor", seqCursor(oldest))
		v.OlderURL = Prefix + "/audit?" + p.Encode()
	}
	return nil
}

func olderExists(newest []agent.AuditEvent, seq int64, capped bool) bool {
	return capped || slices.ContainsFunc(newest, func(e agent.AuditEvent) bool { return e.Seq < seq })
}

// seqCursor is the API's cursor for the events before seq: what nextCursor would be on a
// page whose oldest event is seq.
func seqCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(seq, 10)))
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
	ctx := c.ctx(r, s)
	f := filterFrom(r)
	q := f.query(c.agentNames(ctx))
	if len(f.Errors) > 0 {
		for _, msg := range f.Errors {
			c.fail(w, s, &api.Error{Code: api.CodeInvalidInput, Message: msg})
			return
		}
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="kavach-audit.`+format+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := c.k.Audit().Export(ctx, q, format, w); err != nil {
		c.log.Error("console: audit export failed", "error", err)
	}
}

type eventView struct {
	Event     agent.AuditEvent
	AgentName string
	Arguments string
	Back      string
}

// eventPage shows every recorded field of one event. The link carries the event's seq:
// the ledger is read from there and the event must be the one named, and visible.
func (c *Console) eventPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	id := r.PathValue("id")
	seq, err := strconv.ParseInt(r.URL.Query().Get("seq"), 10, 64)
	if err != nil || seq < 1 {
		c.fail(w, s, api.Errorf(api.CodeNotFound, "no such event"))
		return
	}
	p, err := c.k.Audit().Query(ctx, api.AuditQuery{AfterSeq: seq - 1, Order: "asc", Limit: 1})
	if err != nil {
		c.fail(w, s, err)
		return
	}
	if len(p.Events) == 0 || p.Events[0].ID != id {
		c.fail(w, s, api.Errorf(api.CodeNotFound, "no such event"))
		return
	}
	e := p.Events[0]
	names := map[string]string{}
	c.nameAll(ctx, names, e.AgentID)
	v := eventView{Event: e, AgentName: names[e.AgentID], Arguments: argumentsText(e.Arguments), Back: Prefix + "/audit"}
	c.render(w, http.StatusOK, "event", c.view(s, "audit", "Audit event", v))
}
