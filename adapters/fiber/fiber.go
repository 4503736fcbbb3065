// Package fiber enforces Kavach in front of Fiber (gofiber/fiber/v2) handlers. It is
// adapters/nethttp's Guard read through Fiber's router: the same credentials, client IP
// rules, refusals and decision. It is its own module, so that Kavach's main module does
// not depend on Fiber.
package fiber

import (
	"net/http"
	"strings"

	fiberv2 "github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/api"
)

// Mapper says what a request asks to do.
type Mapper func(c *fiberv2.Ctx) (api.AuthorizeRequest, error)

// Config is nethttp's configuration, with a mapper that reads Fiber's route. Its Map
// field is not used.
type Config struct {
	nethttp.Config
	// Map turns a request into the call to authorize (default DefaultMapper).
	Map Mapper
}

// LocalsKey is where the decision is stored in the request's locals (c.Locals(LocalsKey)).
const LocalsKey = "kavach.decision"

// Middleware returns Fiber middleware that lets a request through only if Kavach allows
// it. Registered with a route (app.Get("/repos/:id", mw, handler)) it maps the route;
// with app.Use or a group, which run before a route is matched, it maps the request's
// path (/repos/42 is http:repos:42), as it does for a wildcard spanning segments. Handlers
// find the decision with DecisionFrom (or nethttp.DecisionFrom(c.UserContext())).
// Fiber's own c.IP() is not used: the Guard's trusted proxies decide. The authorize call,
// and the user context (c.UserContext()) handlers get, continue the caller's W3C trace
// context (nethttp.ContinueTrace).
func Middleware(cfg Config) (fiberv2.Handler, error) {
	g, err := nethttp.New(cfg.Config)
	if err != nil {
		return nil, err
	}
	mapper := cfg.Map
	if mapper == nil {
		mapper = DefaultMapper
	}
	return func(c *fiberv2.Ctx) error {
		req, err := mapper(c)
		if err != nil {
			return write(c, nethttp.Unmappable(err))
		}
		r, err := adaptor.ConvertRequest(c, false)
		if err != nil {
			return err
		}
		// Fiber's tracing middleware keeps its span in the user context.
		r = r.WithContext(c.UserContext())
		d, refusal := g.Check(r, req)
		if refusal != nil {
			return write(c, refusal)
		}
		c.Request().Header.Del("Authorization")
		c.Locals(LocalsKey, d)
		c.SetUserContext(nethttp.WithDecision(nethttp.ContinueTrace(r), d))
		return c.Next()
	}, nil
}

// DecisionFrom returns the decision that let the request through.
func DecisionFrom(c *fiberv2.Ctx) (*api.Decision, bool) {
	d, ok := c.Locals(LocalsKey).(*api.Decision)
	return d, ok
}

// DefaultMapper maps a request as nethttp.PatternMapper does, reading Fiber's route
// ("/repos/:id" is http:repos:{id}, with argument id), or the path when no route is
// matched yet.
func DefaultMapper(c *fiberv2.Ctx) (api.AuthorizeRequest, error) {
	req := api.AuthorizeRequest{Action: nethttp.MethodAction(c.Method())}
	route := c.Route()
	if route == nil || segments(route.Path) != segments(c.Path()) { // app.Use, groups, wildcards
		req.Resource = nethttp.RouteResource(nethttp.DefaultPrefix, c.Path())
		return req, nil
	}
	req.Resource = nethttp.RouteResource(nethttp.DefaultPrefix, nethttp.ColonPattern(route.Path))
	for _, name := range route.Params {
		if req.Arguments == nil {
			req.Arguments = map[string]any{}
		}
		arg := name
		if name == "*" || name == "*1" {
			arg = nethttp.Rest
		}
		req.Arguments[arg] = c.Params(name)
	}
	return req, nil
}

// segments counts a path's non-empty segments. A route whose count differs from the
// request's is a prefix (app.Use, a group) or holds a multi-segment wildcard: the path is
// mapped then.
func segments(path string) int {
	n := 0
	for _, s := range strings.Split(path, "/") {
		if s != "" {
			n++
		}
	}
	return n
}

// write sends a refusal through Fiber.
func write(c *fiberv2.Ctx, f *nethttp.Refusal) error {
	w := &responseWriter{header: http.Header{}, c: c}
	f.Write(w)
	return nil
}

// responseWriter lets a refusal write itself to a Fiber response.
type responseWriter struct {
	header http.Header
	c      *fiberv2.Ctx
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(status int) {
	for k, vs := range w.header {
		for _, v := range vs {
			w.c.Set(k, v)
		}
	}
	w.c.Status(status)
}

func (w *responseWriter) Write(b []byte) (int, error) { return w.c.Write(b) }
