// Package gin enforces Kavach in front of Gin (gin-gonic/gin) handlers. It is
// adapters/nethttp's Guard read through Gin's router: the same credentials, client IP
// rules, refusals and decision in the request's context. It is its own module, so that
// Kavach's main module does not depend on Gin.
package gin

import (
	gingonic "github.com/gin-gonic/gin"

	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/api"
)

// Mapper says what a request asks to do.
type Mapper func(c *gingonic.Context) (api.AuthorizeRequest, error)

// Config is nethttp's configuration, with a mapper that reads Gin's route. Its Map field
// is not used.
type Config struct {
	nethttp.Config
	// Map turns a request into the call to authorize (default DefaultMapper).
	Map Mapper
}

// ContextKey is where the decision is also stored in gin.Context (c.Get(ContextKey)).
const ContextKey = "kavach.decision"

// Middleware returns Gin middleware that lets a request through only if Kavach allows it.
// Register it with r.Use or on a group: Gin knows the route before running it. Handlers
// find the decision with DecisionFrom and never see the agent's credential. Gin's own
// client IP (c.ClientIP) is not used: the Guard's trusted proxies decide. The authorize
// call, and the request's context handlers get, continue the caller's W3C trace context
// (nethttp.ContinueTrace).
func Middleware(cfg Config) (gingonic.HandlerFunc, error) {
	g, err := nethttp.New(cfg.Config)
	if err != nil {
		return nil, err
	}
	mapper := cfg.Map
	if mapper == nil {
		mapper = DefaultMapper
	}
	return func(c *gingonic.Context) {
		req, err := mapper(c)
		if err != nil {
			nethttp.Unmappable(err).Write(c.Writer)
			c.Abort()
			return
		}
		d, refusal := g.Check(c.Request, req)
		if refusal != nil {
			refusal.Write(c.Writer)
			c.Abort()
			return
		}
		c.Request.Header.Del("Authorization")
		c.Request = c.Request.WithContext(nethttp.WithDecision(nethttp.ContinueTrace(c.Request), d))
		c.Set(ContextKey, d)
		c.Next()
	}, nil
}

// DecisionFrom returns the decision that let the request through.
func DecisionFrom(c *gingonic.Context) (*api.Decision, bool) {
	v, ok := c.Get(ContextKey)
	if !ok {
		return nil, false
	}
	d, ok := v.(*api.Decision)
	return d, ok
}

// DefaultMapper maps a request as nethttp.PatternMapper does, reading Gin's route
// ("/repos/:id" is http:repos:{id}, with argument id) and falling back to the path when
// no route matched.
func DefaultMapper(c *gingonic.Context) (api.AuthorizeRequest, error) {
	req := api.AuthorizeRequest{Action: nethttp.MethodAction(c.Request.Method)}
	route := c.FullPath()
	if route == "" {
		req.Resource = nethttp.RouteResource(nethttp.DefaultPrefix, c.Request.URL.Path)
		return req, nil
	}
	req.Resource = nethttp.RouteResource(nethttp.DefaultPrefix, nethttp.ColonPattern(route))
	for _, p := range c.Params {
		if req.Arguments == nil {
			req.Arguments = map[string]any{}
		}
		req.Arguments[p.Key] = p.Value
	}
	return req, nil
}
