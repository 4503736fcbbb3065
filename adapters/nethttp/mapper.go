package nethttp

import (
	"net/http"
	"strings"

	"github.com/kavachos/kavach-go/api"
)

// DefaultPrefix starts the resources the default mapper names.
const DefaultPrefix = "http"

// DefaultMapper maps requests routed by the standard library's ServeMux (r.Pattern) as
// PatternMapper describes, with resources under DefaultPrefix.
var DefaultMapper = PatternMapper(DefaultPrefix, func(r *http.Request) string { return r.Pattern }, (*http.Request).PathValue)

// PatternMapper authorizes a request as its method in lower case ("get", "post") on the
// resource named by its route pattern: "GET /repos/{owner}/{repo}" is
// <prefix>:repos:{owner}:{repo}, and the wildcards' values, read with param, are the
// call's arguments, so argument patterns apply to them. Without a route pattern the
// request's path is used: /repos/42 is <prefix>:repos:42.
//
// Chi:     PatternMapper("http", func(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() }, chi.URLParam)
// gorilla: PatternMapper("http", func(r *http.Request) string { t, _ := mux.CurrentRoute(r).GetPathTemplate(); return t },
// func(r *http.Request, n string) string { return mux.Vars(r)[n] })
func PatternMapper(prefix string, pattern func(*http.Request) string, param func(*http.Request, string) string) Mapper {
	return func(r *http.Request) (api.AuthorizeRequest, error) {
		req := api.AuthorizeRequest{Action: MethodAction(r.Method)}
		p := pattern(r)
		if p == "" {
			req.Resource = RouteResource(prefix, r.URL.Path)
			return req, nil
		}
		req.Resource = RouteResource(prefix, p)
		for _, name := range Wildcards(p) {
			if req.Arguments == nil {
				req.Arguments = map[string]any{}
			}
			req.Arguments[name] = param(r, name)
		}
		return req, nil
	}
}

// MethodAction is the action an HTTP method is authorized as: the method in lower case.
func MethodAction(method string) string { return strings.ToLower(method) }

// RouteResource turns a route pattern or path into a resource under prefix: the method
// and host of a ServeMux pattern are dropped, each non-empty path segment becomes a
// resource segment, and a wildcard's regular expression ("{id:[0-9]+}") is dropped. The
// root path is the prefix alone.
func RouteResource(prefix, pattern string) string {
	path := pattern
	if _, rest, ok := strings.Cut(pattern, " "); ok { // "GET /a" or "GET host/a"
		path = strings.TrimSpace(rest)
	}
	if i := strings.IndexByte(path, '/'); i > 0 { // "host/a"
		path = path[i:]
	}
	segs := []string{prefix}
	for _, s := range strings.Split(path, "/") {
		if s == "" {
			continue
		}
		if name, ok := wildcard(s); ok {
			s = "{" + name + "}"
		}
		segs = append(segs, s)
	}
	return strings.Join(segs, ":")
}

// Wildcards lists the wildcard names of a route pattern ("{id}", "{path...}",
// "{id:[0-9]+}"); ServeMux's "{$}" is not one.
func Wildcards(pattern string) []string {
	var names []string
	for _, s := range strings.Split(pattern, "/") {
		if name, ok := wildcard(s); ok && name != "$" {
			names = append(names, name)
		}
	}
	return names
}

// wildcard returns the name of a whole-segment wildcard.
func wildcard(seg string) (string, bool) {
	if len(seg) < 3 || seg[0] != '{' || seg[len(seg)-1] != '}' {
		return "", false
	}
	name, _, _ := strings.Cut(seg[1:len(seg)-1], ":")
	return strings.TrimSuffix(name, "..."), true
}

// Rest names an unnamed trailing wildcard ("*") in resources and arguments.
const Rest = "rest"

// ColonPattern rewrites a route in the ":name" syntax of Echo, Gin and Fiber into
// ServeMux syntax: ":id" is "{id}", "*path" is "{path}" and a bare "*" is "{rest}" (a
// resource segment cannot hold "*").
func ColonPattern(route string) string {
	segs := strings.Split(route, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, ":") && len(s) > 1:
			segs[i] = "{" + s[1:] + "}"
		case s == "*":
			segs[i] = "{" + Rest + "}"
		case strings.HasPrefix(s, "*"):
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}
