package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kavachos/kavach-go/api"
)

// Audit returns the audit API.
func (c *Client) Audit() api.Audit { return audit{c} }

type audit struct{ c *Client }

func auditValues(q api.AuditQuery) url.Values {
	v := values("tenantId", q.TenantID, "agentId", q.AgentID, "ownerId", q.OwnerID, "action", q.Action,
		"resource", q.Resource, "result", q.Result, "code", q.Code, "traceId", q.TraceID, "cursor", q.Cursor,
		"order", q.Order)
	if q.Since != nil {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Until != nil {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.AfterSeq != 0 {
		v.Set("afterSeq", strconv.FormatInt(q.AfterSeq, 10))
	}
	return v
}

func (a audit) Query(ctx context.Context, q api.AuditQuery) (*api.AuditPage, error) {
	return send[api.AuditPage](ctx, a.c, call{method: http.MethodGet, path: "/v1/audit", query: auditValues(q)})
}

func (a audit) Verify(ctx context.Context, tenantID string) (*api.AuditReport, error) {
	return send[api.AuditReport](ctx, a.c, call{method: http.MethodGet, path: "/v1/audit/verify", query: values("tenantId", tenantID)})
}

// Export streams the server's export straight into w, whatever its size. Paging fields
// of q are not sent: an export has no row cap.
func (a audit) Export(ctx context.Context, q api.AuditQuery, format string, w io.Writer) (err error) {
	q.Limit, q.Cursor, q.AfterSeq = 0, "", 0
	v := auditValues(q)
	v.Set("format", format)
	target := a.c.base + "/v1/audit/export?" + v.Encode()
	ctx, span := a.c.startSpan(ctx, http.MethodGet, target)
	var resp *http.Response
	defer func() { endSpan(span, resp, err) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return &api.Error{Code: api.CodeInvalidInput, Message: err.Error(), Err: err}
	}
	inject(ctx, req)
	req.Header.Set("Authorization", "Bearer "+a.c.apiKey)
	req.Header.Set("User-Agent", a.c.userAgent)
	// The client's overall timeout would cut a long export short: rely on ctx instead.
	hc := *a.c.http
	hc.Timeout = 0
	resp, err = hc.Do(req)
	if err != nil {
		return &api.Error{Code: api.CodeInternal, Message: "kavach request failed: " + err.Error(), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		return responseError(resp, data)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return &api.Error{Code: api.CodeInternal, Message: fmt.Sprintf("reading the export: %v", err), Err: err}
	}
	return nil
}

// ReplayPolicy asks the server to re-decide its recorded decisions under the candidate
// bundle (a .tar.gz archive) and under its active revision, and returns what would change.
// It waits for as long as ctx allows: a replay of a large ledger outlasts the client's
// usual timeout.
func (c *Client) ReplayPolicy(ctx context.Context, req api.ReplayRequest, bundle io.Reader) (*api.ReplayReport, error) {
	v := values("tenantId", req.TenantID)
	if !req.Since.IsZero() {
		v.Set("since", req.Since.UTC().Format(time.RFC3339Nano))
	}
	for name, n := range map[string]int64{"fromSeq": req.FromSeq, "toSeq": req.ToSeq, "limit": req.Limit, "top": int64(req.Top)} {
		if n != 0 {
			v.Set(name, strconv.FormatInt(n, 10))
		}
	}
	long := *c
	hc := *c.http
	hc.Timeout = 0
	long.http = &hc
	return send[api.ReplayReport](ctx, &long, call{method: http.MethodPost, path: "/v1/policy/replay", query: v, raw: bundle, rawType: "application/gzip"})
}

// PolicyStatus reports the server's active policy revision.
func (c *Client) PolicyStatus(ctx context.Context) (*api.PolicyStatus, error) {
	return send[api.PolicyStatus](ctx, c, call{method: http.MethodGet, path: "/v1/policy/status"})
}
