package service

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// The OpenID AuthZEN Authorization API 1.0 over the same facade calls as /v1/authorize:
// discovery, one evaluation, and a batch of them (docs/authzen.md).

// AuthZEN routes.
const (
	authzenConfigurationPath = "/.well-known/authzen-configuration"
	authzenEvaluationPath    = "/access/v1/evaluation"
	authzenEvaluationsPath   = "/access/v1/evaluations"
)

// MaxAuthZENEvaluations bounds the items of one evaluations request.
const MaxAuthZENEvaluations = 1000

// tokenSubjectAuthorizer is the facade's decision for an agent's own token that must
// belong to the named subject (kavach.Kavach.AuthorizeTokenAs). A facade without it
// cannot take agent tokens on these routes; such a request fails closed.
type tokenSubjectAuthorizer interface {
	AuthorizeTokenAs(ctx context.Context, token, agentID string, req api.AuthorizeRequest, cc api.CallContext) (*api.Decision, error)
}

func (s *Server) registerAuthZENRoutes() {
	s.add(echo.GET, authzenConfigurationPath, s.authzenConfiguration, echoRequestID)
	s.add(echo.POST, authzenEvaluationPath, s.authzenEvaluation, echoRequestID)
	s.add(echo.POST, authzenEvaluationsPath, s.authzenEvaluations, echoRequestID)
	s.registerAuthZENSearchRoutes()
	s.registerAuthZENTenantRoutes()
}

// echoRequestID answers a request's X-Request-ID with the same header, errors included, as
// the specification asks of a PDP (§10.1.3).
func echoRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if id := c.Request().Header.Get("X-Request-ID"); id != "" {
			c.Response().Header().Set("X-Request-ID", id)
		}
		return next(c)
	}
}

// authzenEchoRequestID echoes X-Request-ID on an error answer to a request for an AuthZEN
// path that no route's middleware saw: a method not allowed, an unknown path under
// /access/v1/, a URI too long.
func authzenEchoRequestID(c echo.Context) {
	p := c.Request().URL.Path
	if !strings.HasPrefix(p, "/access/v1/") && !strings.HasPrefix(p, authzenConfigurationPath) &&
		!(strings.HasPrefix(p, "/tenants/") && strings.Contains(p, "/access/v1/")) {
		return
	}
	if id := c.Request().Header.Get("X-Request-ID"); id != "" {
		c.Response().Header().Set("X-Request-ID", id)
	}
}

// authzenConfiguration is the Policy Decision Point metadata: the base PDP's, or at
// /.well-known/authzen-configuration/tenants/{tenant} the tenant's PDP's (§9.2). Its
// identifier is the address the request came to, so that it equals what the caller asked
// about (§9.2.3).
func (s *Server) authzenConfiguration(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	base := s.authzenBase(c.Request())
	if tenant := c.Param("tenant"); tenant != "" {
		base += "/tenants/" + tenant
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, api.AuthZENConfiguration{
		PolicyDecisionPoint:       base,
		AccessEvaluationEndpoint:  base + authzenEvaluationPath,
		AccessEvaluationsEndpoint: base + authzenEvaluationsPath,
		SearchSubjectEndpoint:     base + authzenSearchSubjectPath,
		SearchResourceEndpoint:    base + authzenSearchResourcePath,
		SearchActionEndpoint:      base + authzenSearchActionPath,
	})
}

// authzenBase is this server's base URL as the request reached it: https over TLS, or when
// the request came through a trusted proxy that says so in X-Forwarded-Proto.
func (s *Server) authzenBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || (s.ips.FromTrustedProxy(r.RemoteAddr) && strings.EqualFold(forwardedProto(r.Header), "https")) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// forwardedProto is the X-Forwarded-Proto value the nearest proxy wrote: the last of the
// header's values. A proxy that appends to the header rather than replacing it leaves the
// client's own claim in front of its own.
func forwardedProto(h http.Header) string {
	vs := h.Values("X-Forwarded-Proto")
	if len(vs) == 0 {
		return ""
	}
	v := vs[len(vs)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// authzenCaller is who asks: an API key's actor, or an agent with its own token.
type authzenCaller struct {
	token  string // the agent's "kv_" token, or "" for an API key
	closed bool   // the caller could not be authenticated for a failure of ours: deny all
}

// authenticate puts the caller's actor in the request, before the body is read, as the
// /v1 routes do. An API key acts as its role; an agent token runs with the reach of
// tokenActor, since the token alone decides which agent is judged and the facade checks
// that it is the subject's. On a tenant's PDP the caller must belong to the tenant. A key
// that cannot be looked up for a failure of ours is not an error but a caller whose
// evaluations all fail closed.
func (s *Server) authenticate(c echo.Context) (authzenCaller, error) {
	r := c.Request()
	cred, ok := bearer(r)
	if !ok {
		return authzenCaller{}, unauthenticated("a credential is required: send Authorization: Bearer kva_… (an API key) or Bearer kv_… (the subject agent's own token)")
	}
	tenant := c.Param("tenant")
	if strings.HasPrefix(cred, agent.TokenPrefix) {
		c.SetRequest(r.WithContext(api.WithActor(r.Context(), tokenActor(tenant))))
		return authzenCaller{token: cred}, nil
	}
	act, err := s.k.AuthenticateAPIKey(r.Context(), cred)
	if err != nil {
		if s.failsClosed(c, err) {
			return authzenCaller{closed: true}, nil
		}
		return authzenCaller{}, err
	}
	if tenant != "" {
		if err := tenantActor(act, tenant); err != nil {
			return authzenCaller{}, err
		}
	}
	c.SetRequest(r.WithContext(api.WithActor(r.Context(), act)))
	return authzenCaller{}, nil
}

// failsClosed reports whether err is a failure on our side, which denies rather than
// answers 500; it logs the cause.
func (s *Server) failsClosed(c echo.Context, err error) bool {
	if status, _ := classify(err); status < http.StatusInternalServerError {
		return false
	}
	s.log.ErrorContext(rctx(c), "decision failed closed: the request could not be judged",
		"path", c.Request().URL.Path, "error", cause(err))
	return true
}

// closedDecision is the answer when a request could not be judged at all.
func closedDecision() *api.Decision {
	return &api.Decision{Code: api.EngineError, Reason: "internal error: the request could not be judged and failed closed"}
}

// authzenEvaluation answers one evaluation: HTTP 200 with the decision, or a 4xx problem
// for a request that cannot be judged. A failure of ours denies (ENGINE_ERROR).
func (s *Server) authzenEvaluation(c echo.Context) error {
	caller, err := s.authenticate(c)
	if err != nil {
		return err
	}
	var req api.AuthZENEvaluationRequest
	if err := s.authzenBind(c, &req); err != nil {
		return err
	}
	call, err := authzenCallOf(req.AuthZENEvaluation, topLevelPaths, req.Options != nil && req.Options.DryRun)
	if err != nil {
		return err
	}
	return s.authzenBatch(c, caller, api.ExecuteAll, []*authzenCall{call}, true)
}

var topLevelPaths = map[string]string{"subject": "subject", "action": "action", "resource": "resource", "context": "context"}

// authzenDecide makes one call through the facade: Authorize for an API key's actor,
// AuthorizeTokenAs for an agent asking about itself. Input errors name AuthZEN fields.
func (s *Server) authzenDecide(c echo.Context, caller authzenCaller, call *authzenCall) (api.AuthZENDecision, error) {
	r := c.Request()
	cc, err := s.authzenCallContext(r, caller.token != "", call.context)
	if err != nil {
		return api.AuthZENDecision{}, err
	}
	start := time.Now()
	var d *api.Decision
	if caller.token == "" {
		d, err = s.k.Authorize(r.Context(), call.agentID, call.req, cc)
	} else if ta, ok := s.k.(tokenSubjectAuthorizer); ok {
		d, err = ta.AuthorizeTokenAs(r.Context(), caller.token, call.agentID, call.req, cc)
	} else {
		err = errNoTokenSubject
	}
	if err != nil {
		return api.AuthZENDecision{}, authzenInputError(err, call)
	}
	s.metrics.decided(d, time.Since(start))
	return authzenDecision(d), nil
}

// errTokenNotValid answers a request whose bearer, an agent's token, is not valid: the
// caller did not authenticate, which is a 401 (§10.1.2, §11.3), not a decision. The facade
// has audited the attempt as TOKEN_INVALID, as on /v1/authorize/token.
var errTokenNotValid = &api.Error{Code: api.CodeUnauthenticated, Reason: string(api.TokenInvalid), Message: "the agent token is not valid"}

var errNoTokenSubject = &api.Error{Code: api.CodeInternal, Message: "the facade cannot check an agent token against a subject"}

// authzenEvaluations answers a batch. Top-level subject, action, resource and context are
// defaults an item's own members replace. A request that is not well-formed JSON of the
// right shape is a 400 with nothing evaluated; otherwise the items are judged one after
// another in request order (rate limits are charged in that order) until the semantic
// says to stop, and an item Kavach cannot take as a call (a subject that is not an agent,
// a resource id with a space, no subject at all) is answered in place with decision false
// and context.error, as §7.2.1 handles errors in individual evaluations.
func (s *Server) authzenEvaluations(c echo.Context) error {
	caller, err := s.authenticate(c)
	if err != nil {
		return err
	}
	var req api.AuthZENEvaluationsRequest
	if err := s.authzenBind(c, &req); err != nil {
		return err
	}
	semantic, dryRun, err := authzenOptions(req.Options)
	if err != nil {
		return err
	}
	if len(req.Evaluations) == 0 {
		// Without items the request is a single evaluation, and so is its answer.
		call, err := authzenCallOf(req.AuthZENEvaluation, topLevelPaths, dryRun)
		if err != nil {
			return err
		}
		return s.authzenBatch(c, caller, semantic, []*authzenCall{call}, true)
	}
	if len(req.Evaluations) > MaxAuthZENEvaluations {
		return invalid("evaluations", "at most %d evaluations per request, got %d", MaxAuthZENEvaluations, len(req.Evaluations))
	}
	calls := make([]*authzenCall, len(req.Evaluations))
	for i, item := range req.Evaluations {
		merged, paths := withDefaults(req.AuthZENEvaluation, item, i)
		if calls[i], err = authzenCallOf(merged, paths, dryRun); err != nil {
			calls[i] = &authzenCall{refused: err}
		}
	}
	return s.authzenBatch(c, caller, semantic, calls, false)
}

// authzenOptions reads the evaluations semantic (execute_all by default), spelt either
// way, and dryRun. An empty value counts as absent, as it always has for
// evaluations_semantic.
func authzenOptions(o *api.AuthZENOptions) (string, bool, error) {
	if o == nil {
		return api.ExecuteAll, false, nil
	}
	semantic, alias := o.EvaluationsSemantic, o.EvaluationsSemanticProto
	for _, f := range [...]struct{ field, v string }{{"options.evaluations_semantic", semantic}, {"options.evaluationsSemantic", alias}} {
		switch f.v {
		case "", api.ExecuteAll, api.DenyOnFirstDeny, api.PermitOnFirstPermit:
		default:
			return "", false, invalid(f.field, "must be %s, %s or %s", api.ExecuteAll, api.DenyOnFirstDeny, api.PermitOnFirstPermit)
		}
	}
	switch {
	case semantic != "" && alias != "" && semantic != alias:
		return "", false, invalid("options.evaluationsSemantic", "is %q but options.evaluations_semantic is %q: send one of them", alias, semantic)
	case semantic != "":
		return semantic, o.DryRun, nil
	case alias != "":
		return alias, o.DryRun, nil
	}
	return api.ExecuteAll, o.DryRun, nil
}

// withDefaults is item with each member it lacks taken from the top level, and the path
// each member came from.
func withDefaults(top, item api.AuthZENEvaluation, i int) (api.AuthZENEvaluation, map[string]string) {
	at := "evaluations[" + strconv.Itoa(i) + "]."
	paths := make(map[string]string, 4)
	pick := func(name string, own bool) {
		if own {
			paths[name] = at + name
		} else {
			paths[name] = name
		}
	}
	pick("subject", item.Subject != nil)
	pick("action", item.Action != nil)
	pick("resource", item.Resource != nil)
	pick("context", item.Context != nil)
	if item.Subject == nil {
		item.Subject = top.Subject
	}
	if item.Action == nil {
		item.Action = top.Action
	}
	if item.Resource == nil {
		item.Resource = top.Resource
	}
	if item.Context == nil {
		item.Context = top.Context
	}
	return item, paths
}

// authzenBatch judges calls in order under semantic, as caller. An item
// Kavach refuses as input is answered in place with decision false and context.error,
// and counts as a deny. single answers the one call as an evaluation does. An agent's
// token found not valid at the first decision fails the whole request with a 401: the
// token is the request's credential, the same for every item.
func (s *Server) authzenBatch(c echo.Context, caller authzenCaller, semantic string, calls []*authzenCall, single bool) error {
	var err error
	decided := false
	out := make([]api.AuthZENDecision, 0, len(calls))
	for _, call := range calls {
		if rctx(c).Err() != nil {
			return rctx(c).Err() // the caller went away: no one to answer, nothing more to judge
		}
		var d api.AuthZENDecision
		if call.refused != nil {
			d = authzenItemError(call.refused)
		} else if caller.closed {
			d = authzenDecision(closedDecision())
		} else if d, err = s.authzenDecide(c, caller, call); err != nil {
			if s.failsClosed(c, err) {
				d = authzenDecision(closedDecision())
			} else if single {
				return err
			} else {
				d = authzenItemError(err)
			}
		} else if caller.token != "" && !decided && d.Context.Code == api.TokenInvalid {
			return errTokenNotValid
		}
		decided = decided || d.Context.Error == nil
		out = append(out, d)
		if (semantic == api.DenyOnFirstDeny && !d.Decision) || (semantic == api.PermitOnFirstPermit && d.Decision) {
			break
		}
	}
	if single {
		return replyJSON(c, out[0])
	}
	return replyJSON(c, api.AuthZENEvaluationsResponse{Evaluations: out})
}

// replyJSON answers v in one write with its Content-Length, however long a batch's
// answer is (c.JSON streams, and net/http then chunks answers over 2 KB).
func replyJSON(c echo.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}
