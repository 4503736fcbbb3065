package nethttp_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/kavachos/kavach-go/adapters/internal/adaptertest"
	"github.com/kavachos/kavach-go/adapters/nethttp"
)

func reply(w http.ResponseWriter, r *http.Request) {
	d, _ := nethttp.DecisionFrom(r.Context())
	adaptertest.Reply(w, r, d)
}

func TestServeMux(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, cfg nethttp.Config) string {
		g, err := nethttp.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		for _, p := range []string{"GET /repos/{id}", "POST /deploy", "GET /admin", "GET /internal"} {
			mux.Handle(p, g.Middleware(http.HandlerFunc(reply)))
		}
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv.URL
	})
}

func TestMapping(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pattern, resource string
		wildcards         []string
	}{
		{"GET /repos/{owner}/{repo}", "http:repos:{owner}:{repo}", []string{"owner", "repo"}},
		{"GET example.com/files/{path...}", "http:files:{path}", []string{"path"}},
		{"/", "http", nil},
		{"POST /items/{$}", "http:items:{$}", nil},
		{"/users/{id:[0-9]+}/", "http:users:{id}", []string{"id"}},
		{"/a//b/", "http:a:b", nil},
	} {
		if got := nethttp.RouteResource("http", c.pattern); got != c.resource {
			t.Errorf("RouteResource(%q) = %q, want %q", c.pattern, got, c.resource)
		}
		if got := nethttp.Wildcards(c.pattern); !reflect.DeepEqual(got, c.wildcards) {
			t.Errorf("Wildcards(%q) = %q, want %q", c.pattern, got, c.wildcards)
		}
	}
}

func TestMapperWithoutPattern(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodDelete, "/repos/42", nil)
	req, err := nethttp.DefaultMapper(r)
	if err != nil || req.Action != "delete" || req.Resource != "http:repos:42" || req.Arguments != nil {
		t.Fatalf("%+v %v", req, err)
	}
}

func TestColonPattern(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/repos/:owner/:repo": "/repos/{owner}/{repo}",
		"/files/*":            "/files/{rest}",
		"/static/*filepath":   "/static/{filepath}",
		"/":                   "/",
	} {
		if got := nethttp.ColonPattern(in); got != want {
			t.Errorf("ColonPattern(%q) = %q, want %q", in, got, want)
		}
	}
}
