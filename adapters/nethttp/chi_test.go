package nethttp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/kavachos/kavach-go/adapters/internal/adaptertest"
	"github.com/kavachos/kavach-go/adapters/nethttp"
)

// Chi's route pattern is complete in inline middleware (r.With), which runs once the
// route is found.
func TestChi(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, cfg nethttp.Config) string {
		cfg.Map = nethttp.PatternMapper(nethttp.DefaultPrefix,
			func(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() }, chi.URLParam)
		g, err := nethttp.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := chi.NewRouter()
		guarded := r.With(g.Middleware)
		guarded.Get("/repos/{id}", reply)
		guarded.Post("/deploy", reply)
		guarded.Get("/admin", reply)
		guarded.Get("/internal", reply)
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		return srv.URL
	})
}
