// Package client is a Go client for Kavach's HTTP API. It implements api.Kavach, so code
// written against the embedded SDK runs against a server unchanged; failures come back as
// *api.Error with the code, field and reason the server sent. It imports only api/ and
// agent/ of Kavach, the standard library and OpenTelemetry's API (not its SDK).
//
// The caller is the API key given to New: the actor a context may carry is not sent.
//
// Every request carries the W3C trace context (traceparent, tracestate, baggage) of its
// ctx, so the server's decision and its audit event belong to the caller's trace. When a
// tracer provider is installed (otel.SetTracerProvider, telemetry.Install, or
// WithTracerProvider) each request is also a client span.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/api"
)

// maxResponseBytes bounds how much of a response the client reads.
const maxResponseBytes = 32 << 20

// Client talks to one Kavach server. It is safe for concurrent use.
type Client struct {
	base      string // scheme://host[/prefix], without a trailing slash
	apiKey    string
	http      *http.Client
	userAgent string
	tracer    trace.Tracer // nil: the global provider's, looked up per request
}

var _ api.Kavach = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc (default: a client with a 30 s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithUserAgent sets the User-Agent of requests.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the server at baseURL ("https://kavach.example.com") that
// authenticates with apiKey ("kva_…").
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("kavach client: base URL %q must be http(s)://host[:port][/path]", baseURL)
	}
	c := &Client{base: u.String(), apiKey: apiKey, http: &http.Client{Timeout: 30 * time.Second}, userAgent: "kavach-go-client"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// call is one request: the bearer credential defaults to the client's API key. url, when
// set, is the whole URL instead of the base URL and path.
type call struct {
	method, path string
	url          string
	query        url.Values
	in, out      any
	// raw, when set, is the body as it is, of type rawType, instead of in as JSON.
	raw       io.Reader
	rawType   string
	bearer    string
	userAgent string
	requestID string
}

func (c *Client) do(ctx context.Context, r call) (err error) {
	target := c.base + r.path
	if r.url != "" {
		target = r.url
	}
	if q := r.query.Encode(); q != "" {
		target += "?" + q
	}
	body, ctype := r.raw, r.rawType
	if r.in != nil {
		b, err := json.Marshal(r.in)
		if err != nil {
			return &api.Error{Code: api.CodeInvalidInput, Message: "encode request: " + err.Error(), Err: err}
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	ctx, span := c.startSpan(ctx, r.method, target)
	var resp *http.Response
	defer func() { endSpan(span, resp, err) }()
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return &api.Error{Code: api.CodeInvalidInput, Message: err.Error(), Err: err}
	}
	inject(ctx, req)
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json, "+api.ProblemContentType)
	bearer := r.bearer
	if bearer == "" {
		bearer = c.apiKey
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if r.userAgent != "" {
		req.Header.Set("User-Agent", r.userAgent)
	}
	if r.requestID != "" {
		req.Header.Set("X-Request-ID", r.requestID)
	}
	resp, err = c.http.Do(req)
	if err != nil {
		return &api.Error{Code: api.CodeInternal, Message: "kavach request failed: " + err.Error(), Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return &api.Error{Code: api.CodeInternal, Message: "reading kavach response: " + err.Error(), Err: err}
	}
	if resp.StatusCode >= 300 {
		return responseError(resp, data)
	}
	if r.out == nil {
		return nil
	}
	if err := json.Unmarshal(data, r.out); err != nil {
		return &api.Error{Code: api.CodeInternal, Message: "decoding kavach response: " + err.Error(), Err: err}
	}
	return nil
}

// responseError turns a failed response back into the *api.Error the server reported.
func responseError(resp *http.Response, data []byte) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == api.ProblemContentType || mt == "application/json" {
		var p api.Problem
		if err := json.Unmarshal(data, &p); err == nil && (p.Code != "" || p.Status != 0) {
			if p.Status == 0 {
				p.Status = resp.StatusCode
			}
			return p.Err()
		}
	}
	snippet := strings.TrimSpace(string(data))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "…"
	}
	return &api.Error{Code: api.CodeForStatus(resp.StatusCode), Message: fmt.Sprintf("HTTP %d from kavach: %s", resp.StatusCode, snippet)}
}

// path joins escaped segments into a URL path: "/v1", "agents", id.
func path(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

// values builds a query from name/value pairs, leaving out empty values.
func values(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	return q
}
