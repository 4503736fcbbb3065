package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/kavachos/kavach-go/api"
)

// AuthZEN returns the server's OpenID AuthZEN Authorization API 1.0 (docs/authzen.md):
// its Policy Decision Point metadata, evaluations and searches, asked with the client's
// API key. It is not part of api.Kavach: the embedded SDK answers the same questions
// through Authorize and Agents().Capabilities.
func (c *Client) AuthZEN() AuthZEN { return AuthZEN{c: c} }

// AuthZEN asks one Policy Decision Point: the base PDP, or a tenant's. It is a value:
// Tenant, WithToken and WithRequestID return changed copies, so one can be shared.
// Failures come back as *api.Error, a 400 naming the member in Field
// ("evaluations[2].resource.id", "page.token").
type AuthZEN struct {
	c         *Client
	tenant    string
	token     string
	requestID string
}

// Tenant asks the tenant's own PDP, https://host/tenants/{tenant}, which answers only
// callers of that tenant (docs/authzen.md#tenants).
func (a AuthZEN) Tenant(tenant string) AuthZEN { a.tenant = tenant; return a }

// WithToken asks with an agent's own token ("kv_…") instead of the client's API key; the
// agent may then ask only about itself.
func (a AuthZEN) WithToken(token string) AuthZEN { a.token = token; return a }

// WithRequestID sends id as the X-Request-ID header, which the server echoes.
func (a AuthZEN) WithRequestID(id string) AuthZEN { a.requestID = id; return a }

// Identifier is the PDP identifier this AuthZEN asks: the client's base URL, with
// /tenants/{tenant} for a tenant's PDP.
func (a AuthZEN) Identifier() string {
	if a.tenant == "" {
		return a.c.base
	}
	return a.c.base + path("tenants", a.tenant)
}

// Configuration reads the PDP's metadata from the well-known URL of its identifier: the
// well-known string inserted between the host and the identifier's path (AuthZEN §9.2).
// Metadata naming another identifier than Identifier() is an error and not returned, as
// §9.2.3 requires of its reader.
func (a AuthZEN) Configuration(ctx context.Context) (*api.AuthZENConfiguration, error) {
	id := a.Identifier()
	u, err := url.Parse(id)
	if err != nil {
		return nil, &api.Error{Code: api.CodeInvalidInput, Message: err.Error(), Err: err}
	}
	wellKnown := u.Scheme + "://" + u.Host + "/.well-known/authzen-configuration" + u.EscapedPath()
	cfg, err := send[api.AuthZENConfiguration](ctx, a.c, call{method: http.MethodGet, url: wellKnown, bearer: a.token, requestID: a.requestID})
	if err != nil {
		return nil, err
	}
	if cfg.PolicyDecisionPoint != id {
		return nil, &api.Error{Code: api.CodeInternal, Message: "the AuthZEN metadata names the PDP " +
			cfg.PolicyDecisionPoint + ", not " + id + ": not used (AuthZEN 1.0 §9.2.3)"}
	}
	return cfg, nil
}

// Evaluation asks for one decision: a deny is a *api.AuthZENDecision with Decision false,
// not an error.
func (a AuthZEN) Evaluation(ctx context.Context, req api.AuthZENEvaluationRequest) (*api.AuthZENDecision, error) {
	return send[api.AuthZENDecision](ctx, a.c, a.post("/access/v1/evaluation", req))
}

// Evaluations asks for a batch, answered in request order. A request without Evaluations
// is a single evaluation on the server; its decision is returned as the only item.
func (a AuthZEN) Evaluations(ctx context.Context, req api.AuthZENEvaluationsRequest) (*api.AuthZENEvaluationsResponse, error) {
	if len(req.Evaluations) == 0 {
		d, err := send[api.AuthZENDecision](ctx, a.c, a.post("/access/v1/evaluations", req))
		if err != nil {
			return nil, err
		}
		return &api.AuthZENEvaluationsResponse{Evaluations: []api.AuthZENDecision{*d}}, nil
	}
	return send[api.AuthZENEvaluationsResponse](ctx, a.c, a.post("/access/v1/evaluations", req))
}

// SearchAction answers the actions the subject may take on the resource, one page at a
// time: send the same request again with Page.Token set to Page.NextToken until it is "".
func (a AuthZEN) SearchAction(ctx context.Context, req api.AuthZENSearchRequest) (*api.AuthZENActionSearchResponse, error) {
	return send[api.AuthZENActionSearchResponse](ctx, a.c, a.post("/access/v1/search/action", req))
}

// SearchResource answers the resources of Resource.Type the subject may act on with the
// action, paged as SearchAction is.
func (a AuthZEN) SearchResource(ctx context.Context, req api.AuthZENSearchRequest) (*api.AuthZENResourceSearchResponse, error) {
	return send[api.AuthZENResourceSearchResponse](ctx, a.c, a.post("/access/v1/search/resource", req))
}

// SearchSubject answers the agents within the caller's reach that may take the action on
// the resource, paged as SearchAction is.
func (a AuthZEN) SearchSubject(ctx context.Context, req api.AuthZENSearchRequest) (*api.AuthZENSubjectSearchResponse, error) {
	return send[api.AuthZENSubjectSearchResponse](ctx, a.c, a.post("/access/v1/search/subject", req))
}

func (a AuthZEN) post(route string, body any) call {
	p := route
	if a.tenant != "" {
		p = path("tenants", a.tenant) + route
	}
	return call{method: http.MethodPost, path: p, in: body, bearer: a.token, requestID: a.requestID}
}
