// Package echo enforces Kavach in front of Echo (labstack/echo/v4) handlers. It is
// adapters/nethttp's Guard read through Echo's router: the same credentials, client IP
// rules, refusals and decision in the request's context.
package echo

import (
	echov4 "github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/api"
)

// Mapper says what a request asks to do.
type Mapper func(c echov4.Context) (api.AuthorizeRequest, error)

// Config is nethttp's configuration, with a mapper that reads Echo's route. Its Map field
// is not used.
type Config struct {
	nethttp.Config
	// Map turns a request into the call to authorize (default DefaultMapper).
	Map Mapper
}

// ContextKey is where the decision is also stored in echo.Context (c.Get(ContextKey)).
const ContextKey = "kavach.decision"

// Middleware returns Echo middleware that lets a request through only if Kavach allows it.
// Register it with e.Use or on a group: Echo routes before running it, so the route is
// known. Handlers find the decision with DecisionFrom and never see the agent's
// credential. The authorize call, and the request's context handlers get, continue the
// caller's W3C trace context (nethttp.ContinueTrace).
func Middleware(cfg Config) (echov4.MiddlewareFunc, error) {
	g, err := nethttp.New(cfg.Config)
	if err != nil {
		return nil, err
	}
	mapper := cfg.Map
	if mapper == nil {
		mapper = DefaultMapper
	}
	return func(next echov4.HandlerFunc) echov4.HandlerFunc {
		return func(c echov4.Context) error {
			req, err := mapper(c)
			if err != nil {
				nethttp.Unmappable(err).Write(c.Response())
				return nil
			}
			r := c.Request()
			d, refusal := g.Check(r, req)
			if refusal != nil {
				refusal.Write(c.Response())
				return nil
			}
			r.Header.Del("Authorization")
			c.SetRequest(r.WithContext(nethttp.WithDecision(nethttp.ContinueTrace(r), d)))
			c.Set(ContextKey, d)
			return next(c)
		}
	}, nil
}

// DecisionFrom returns the decision that let the request through.
func DecisionFrom(c echov4.Context) (*api.Decision, bool) {
	d, ok := c.Get(ContextKey).(*api.Decision)
	return d, ok
}

// DefaultMapper maps a request as nethttp.PatternMapper does, reading Echo's route
// ("/repos/:id" is http:repos:{id}, with argument id) and falling back to the path when
// no route matched.
func DefaultMapper(c echov4.Context) (api.AuthorizeRequest, error) {
	req := api.AuthorizeRequest{Action: nethttp.MethodAction(c.Request().Method)}
	pattern := nethttp.ColonPattern(c.Path())
	if pattern == "" {
		req.Resource = nethttp.RouteResource(nethttp.DefaultPrefix, c.Request().URL.Path)
		return req, nil
	}
	req.Resource = nethttp.RouteResource(nethttp.DefaultPrefix, pattern)
	for _, name := range c.ParamNames() {
		if req.Arguments == nil {
			req.Arguments = map[string]any{}
		}
		arg := name
		if name == "*" {
			arg = nethttp.Rest
		}
		req.Arguments[arg] = c.Param(name)
	}
	return req, nil
}
