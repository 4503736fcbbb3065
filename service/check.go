package service

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// The size of every string a request carries is bounded here, where requests are bound,
// by the limits of agent/limits.go: a body's strings by checkStrings, the authorize
// routes' by hand (they are the hot path), query parameters by query, path ids by
// checkPathIDs. What a value means is the facade's business; how big it may be is checked
// before the facade sees it.

func tooLong(field string, limit int) *api.Error {
	return invalid(field, "longer than %d bytes", limit)
}

// checkStrings refuses a string in a decoded body that is longer than its field's limit
// (agent.StringLimit, agent.MapLimits), naming the field by its full path.
func checkStrings(v any) error {
	return checkValue(reflect.ValueOf(v), "", "")
}

func checkValue(v reflect.Value, path, name string) error {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return checkValue(v.Elem(), path, name)
	case reflect.String:
		if limit := agent.StringLimit(name); v.Len() > limit {
			return tooLong(path, limit)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkValue(v.Index(i), path+"["+strconv.Itoa(i)+"]", name); err != nil {
				return err
			}
		}
	case reflect.Map:
		return checkMap(v, path, name)
	case reflect.Struct:
		for _, f := range jsonFields(v.Type()) {
			fv, err := v.FieldByIndexErr(f.index)
			if err != nil {
				continue // a nil embedded pointer: nothing was sent there
			}
			if err := checkValue(fv, joinPath(path, f.name), f.name); err != nil {
				return err
			}
		}
	}
	// Free-form JSON (interface values: a call's arguments) is bounded as a whole.
	return nil
}

// checkMap checks a string-keyed object's keys and, where they are strings, its values.
func checkMap(v reflect.Value, path, name string) error {
	if v.Type().Key().Kind() != reflect.String {
		return nil
	}
	keyLimit, valueLimit := agent.MapLimits(name)
	keys := v.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	for _, k := range keys {
		if k.Len() > keyLimit {
			return invalid(path, "a key is longer than %d bytes", keyLimit)
		}
		if e := v.MapIndex(k); valueLimit > 0 && e.Kind() == reflect.String && e.Len() > valueLimit {
			return tooLong(joinPath(path, k.String()), valueLimit)
		}
	}
	return nil
}

// checkAuthorizeAgent bounds the body of POST /v1/authorize.
func checkAuthorizeAgent(req *api.AuthorizeAgentRequest) error {
	switch {
	case req.AgentID == "" && req.Token == "":
		return invalid("agentId", "must name the agent (agentId), or carry its token (token)")
	case req.AgentID != "" && req.Token != "":
		return invalid("token", "give the agent's id (agentId) or its token (token), not both")
	case len(req.AgentID) > agent.MaxIDLen:
		return tooLong("agentId", agent.MaxIDLen)
	}
	if cc := req.Context; cc != nil {
		if len(cc.UserAgent) > agent.MaxUserAgentLen {
			return tooLong("context.userAgent", agent.MaxUserAgentLen)
		}
		if cc.IP != "" {
			if err := agent.ValidateIP("context.ip", cc.IP); err != nil {
				return err
			}
		}
	}
	return checkAuthorize(&req.AuthorizeRequest)
}

// checkAuthorize bounds the call of either authorize route.
func checkAuthorize(req *api.AuthorizeRequest) error {
	switch {
	case len(req.Action) > agent.MaxActionLen:
		return tooLong("action", agent.MaxActionLen)
	case len(req.Resource) > agent.MaxResourceLen:
		return tooLong("resource", agent.MaxResourceLen)
	}
	for name := range req.Arguments {
		if len(name) > agent.MaxArgumentNameLen {
			return invalid("arguments", "an argument name is longer than %d bytes", agent.MaxArgumentNameLen)
		}
	}
	return nil
}

// tokenCallContext is where an agent authorizing itself calls from: the connection's
// address (or a trusted proxy's word for it) and its User-Agent header.
func (s *Server) tokenCallContext(r *http.Request) (api.CallContext, error) {
	ua := r.UserAgent()
	if len(ua) > agent.MaxUserAgentLen {
		return api.CallContext{}, tooLong("User-Agent", agent.MaxUserAgentLen)
	}
	if !utf8.ValidString(ua) {
		return api.CallContext{}, invalid("User-Agent", "not valid UTF-8")
	}
	return api.CallContext{IP: s.ips.Resolve(r.RemoteAddr, r.Header.Values(echo.HeaderXForwardedFor)), UserAgent: ua}, nil
}

// checkQueryValue bounds one query parameter.
func checkQueryValue(name, v string) error {
	if !utf8.ValidString(v) {
		return invalid(name, "not valid UTF-8")
	}
	if limit := agent.StringLimit(name); len(v) > limit {
		return tooLong(name, limit)
	}
	return nil
}

// checkPathIDs refuses a path id ("/v1/agents/{id}") that is over agent.MaxIDLen or not
// valid UTF-8 once unescaped.
func checkPathIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		values := c.ParamValues()
		for i, name := range c.ParamNames() {
			if i >= len(values) {
				break
			}
			v := values[i]
			if strings.Contains(v, "%") { // Echo leaves some escapes in place
				u, err := url.PathUnescape(v)
				if err != nil {
					return invalid(name, "not a valid path segment")
				}
				v = u
			}
			if len(v) > agent.MaxIDLen {
				return tooLong(name, agent.MaxIDLen)
			}
			if !utf8.ValidString(v) {
				return invalid(name, "not valid UTF-8")
			}
		}
		return next(c)
	}
}

// checkURI answers a request URI longer than MaxURIBytes with 414. It wraps each route
// once, where it costs nothing per request (Echo's global middleware is wrapped anew for
// every request); handleError answers 414 for a long URI that matches no route. net/http
// itself refuses a request line and headers over MaxHeaderBytes (see problemListener).
func checkURI(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if uriTooLong(c.Request()) {
			return errURITooLong
		}
		return next(c)
	}
}

func uriTooLong(r *http.Request) bool { return len(r.RequestURI) > MaxURIBytes }

var errURITooLong = &statusError{http.StatusRequestURITooLong, &api.Error{Code: api.CodeInvalidInput, Field: "URI",
	Reason: "URI_TOO_LONG", Message: "the request URI is longer than " + strconv.Itoa(MaxURIBytes) + " bytes"}}
