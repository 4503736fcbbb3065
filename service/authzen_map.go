package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// The mapping between AuthZEN's information model and a Kavach call, written once
// (docs/authzen.md): subject {type "agent", id} is the agent; action.name the action;
// resource type + ":" + id, verbatim, the resource; action.properties.arguments the call's
// arguments; context.ip and context.userAgent the end client, for API-key callers only.

// authzenSubjectType is the only subject type Kavach judges.
const authzenSubjectType = "agent"

// authzenCall is one evaluation turned into a Kavach call, with the path of each member
// it came from, so that an error names the field as the caller sent it.
type authzenCall struct {
	agentID string
	req     api.AuthorizeRequest
	context *api.AuthZENContext
	path    map[string]string // member ("subject", "action", "resource", "context") → its path
	refused error             // a batch item that cannot be a call: answered in place, not judged
}

// field names a member's field as sent: "subject.id", or "evaluations[3].subject.id" when
// the item carried its own subject rather than the top-level default.
func (c *authzenCall) field(member, rest string) string {
	p := c.path[member]
	if rest != "" {
		p += "." + rest
	}
	return p
}

// authzenCallOf maps e to a call. paths gives each member's path in the body. An error is
// a 400 naming the field: a required member missing or of the wrong kind.
func authzenCallOf(e api.AuthZENEvaluation, paths map[string]string, dryRun bool) (*authzenCall, error) {
	c := &authzenCall{path: paths, context: e.Context}
	switch s := e.Subject; {
	case s == nil:
		return nil, invalid(c.field("subject", ""), "a subject is required")
	case s.Type != authzenSubjectType:
		return nil, invalid(c.field("subject", "type"), "must be %q: Kavach judges agents", authzenSubjectType)
	case s.ID == "":
		return nil, invalid(c.field("subject", "id"), "the agent's id is required")
	}
	c.agentID = e.Subject.ID
	if e.Action == nil || e.Action.Name == "" {
		return nil, invalid(c.field("action", "name"), "an action name is required")
	}
	args, err := authzenArguments(e.Action.Properties, c.field("action", "properties.arguments"))
	if err != nil {
		return nil, err
	}
	resource, err := authzenResource(e.Resource, c.path["resource"])
	if err != nil {
		return nil, err
	}
	c.req = api.AuthorizeRequest{Action: e.Action.Name, Resource: resource, Arguments: args, DryRun: dryRun}
	return c, nil
}

// authzenResource is the Kavach resource an AuthZEN resource names: type + ":" + id, each
// part required and a valid resource of its own (docs/authzen.md). path is the member's
// place in the body, for errors.
func authzenResource(r *api.AuthZENResource, path string) (string, error) {
	if r == nil {
		return "", invalid(path, "a resource is required")
	}
	for _, part := range []struct{ name, v string }{{"type", r.Type}, {"id", r.ID}} {
		if part.v == "" {
			return "", invalid(path+"."+part.name, "is required")
		}
		if err := agent.ValidateResource(part.v); err != nil {
			return "", invalid(path+"."+part.name, "%v (type + \":\" + id is the Kavach resource)", err)
		}
	}
	return r.Type + ":" + r.ID, nil
}

// authzenArguments reads action.properties.arguments: absent or null is no arguments.
func authzenArguments(props map[string]any, field string) (map[string]any, error) {
	v, ok := props["arguments"]
	if !ok || v == nil {
		return nil, nil
	}
	args, ok := v.(map[string]any)
	if !ok {
		return nil, invalid(field, "must be an object of the call's arguments")
	}
	return args, nil
}

// callContext is where the call comes from. An agent asking with its own token cannot
// claim an address: it is the connection's, as on /v1/authorize/token, and the body's
// context.ip and context.userAgent are ignored. An API-key caller reports the end client.
func (s *Server) authzenCallContext(r *http.Request, byToken bool, ctx *api.AuthZENContext) (api.CallContext, error) {
	if byToken {
		return s.tokenCallContext(r)
	}
	if ctx == nil {
		return api.CallContext{}, nil
	}
	return api.CallContext{IP: ctx.IP, UserAgent: ctx.UserAgent}, nil
}

// authzenInputError renames the field a facade error names to the AuthZEN member
// it came from; other errors pass unchanged.
func authzenInputError(err error, c *authzenCall) error {
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Field == "" {
		return err
	}
	field := ae.Field
	switch ae.Field {
	case "agentId", "subject.id":
		field = c.field("subject", "id")
	case "action":
		field = c.field("action", "name")
	case "resource":
		field = c.field("resource", "")
	case "arguments":
		field = c.field("action", "properties.arguments")
	case "context.ip":
		field = c.field("context", "ip")
	case "context.userAgent":
		field = c.field("context", "userAgent")
	}
	out := *ae
	out.Field = field
	return &out
}

// authzenDecision shapes Kavach's decision as AuthZEN's: the boolean, and in context the
// code, the reasons keyed by an HTTP-like status, the audit id and what else applies.
func authzenDecision(d *api.Decision) api.AuthZENDecision {
	status := authzenStatus(d.Code)
	ctx := &api.AuthZENDecisionContext{
		Code: d.Code, ReasonUser: map[string]string{status: authzenUserReason(d.Code)},
		AuditID: d.AuditID, Grant: d.Grant, Via: d.Via, ApprovalID: d.ApprovalID, RetryAfter: d.RetryAfter,
	}
	if d.Reason != "" {
		ctx.ReasonAdmin = map[string]string{status: d.Reason}
	}
	return api.AuthZENDecision{Decision: d.Allowed, Context: ctx}
}

// authzenItemError answers an item of an evaluations request that could not be judged.
func authzenItemError(err error) api.AuthZENDecision {
	status, ae := classify(err)
	return api.AuthZENDecision{Context: &api.AuthZENDecisionContext{
		Error: &api.AuthZENItemError{Status: status, Message: ae.Message, Field: ae.Field},
	}}
}

// authzenStatus is the HTTP-like status a decision's reasons are keyed by.
func authzenStatus(code api.DecisionCode) string {
	switch code {
	case api.Allowed:
		return "200"
	case api.TokenInvalid:
		return "401"
	case api.AgentNotFound:
		return "404"
	case api.RateLimited:
		return "429"
	case api.EngineError:
		return "500"
	case api.PolicyNotLoaded:
		return "503"
	}
	return "403"
}

// authzenUserReasons are what an end user may be shown: they name no grant, pattern or
// policy, which reason_admin does.
var authzenUserReasons = map[api.DecisionCode]string{
	api.Allowed:            "Allowed.",
	api.AgentNotFound:      "This agent is not known.",
	api.AgentRevoked:       "This agent has been revoked.",
	api.AgentExpired:       "This agent has expired.",
	api.TokenInvalid:       "The agent's credential is not valid.",
	api.NoPermission:       "The agent is not permitted to do this.",
	api.RateLimited:        "Too many requests: try again later.",
	api.OutsideTimeWindow:  "Not permitted at this time.",
	api.IPNotAllowed:       "Not permitted from this network address.",
	api.ArgumentNotAllowed: "Not permitted with these arguments.",
	api.ApprovalRequired:   "This needs a person's approval first.",
	api.ApprovalDenied:     "A person declined to approve this.",
	api.PolicyDenied:       "Denied by policy.",
	api.EngineError:        "The request could not be judged and was denied.",
	api.PolicyNotLoaded:    "The authorization policy is not loaded yet; denied.",
}

func authzenUserReason(code api.DecisionCode) string {
	if r, ok := authzenUserReasons[code]; ok {
		return r
	}
	return "Denied."
}

// authzenBind decodes the body, a single JSON object, into dst. Unlike bind it ignores
// unknown members, as the AuthZEN specification requires of receivers (§10.1.1); the
// rest — size, UTF-8, trailing data, values of the wrong kind — is refused as bind does. A
// content type other than application/json is a 400 here, not bind's 415: §10.1.2 lists
// 400 as the answer to a malformed request.
func (s *Server) authzenBind(c echo.Context, dst any) error {
	_, err := s.authzenDecode(c, dst, nil)
	return err
}

// authzenDecode is authzenBind that also returns digest(body) when digest is not nil,
// computed before the body's buffer is reused.
func (s *Server) authzenDecode(c echo.Context, dst any, digest func([]byte) string) (string, error) {
	buf := bodyBuffers.Get().(*[]byte)
	defer putBodyBuffer(buf)
	body, err := s.readBody(c, buf)
	if err != nil {
		return "", err
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return "", invalid("body", "a JSON object is required")
	case checkJSONContentType(c.Request()) != nil:
		return "", invalid("Content-Type", "the body must be sent as application/json, not %q", c.Request().Header.Get(echo.HeaderContentType))
	case trimmed[0] != '{':
		return "", invalid("body", "the body must be a JSON object")
	}
	if err := checkText(trimmed); err != nil {
		return "", err
	}
	exact, err := exactKeys(trimmed, reflect.TypeOf(dst))
	if err != nil {
		return "", err
	}
	dec := json.NewDecoder(bytes.NewReader(exact))
	if err := dec.Decode(dst); err != nil {
		return "", decodeError(err, exact, reflect.TypeOf(dst))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", invalid("body", "unexpected data after the JSON object")
	}
	if digest == nil {
		return "", nil
	}
	return digest(trimmed), nil
}
