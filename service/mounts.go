package service

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// Mount serves a handler on Echo route patterns of its own ("/oauth", "/oauth/*").
type Mount struct {
	Paths   []string
	Handler http.Handler
	// Endpoints are the exact paths the mount answers that name their own trace spans
	// ("POST /oauth/token"); a request to any other path under the mount is named by the
	// mount's pattern, so that a caller cannot mint span names.
	Endpoints []string
}

// mount registers the configured mounts for every method. They are not API routes, so
// they are not listed by Routes (and not in docs/openapi.yaml), but they are observed like
// any route: metrics are labelled by their pattern and panics are recovered.
func (s *Server) mount() {
	for _, m := range s.cfg.Mounts {
		h := checkURI(echo.WrapHandler(m.Handler))
		for _, p := range m.Paths {
			s.echo.Any(p, h)
			s.known[p] = true
		}
		for _, p := range m.Endpoints {
			s.endpoints[p] = true
		}
	}
}
