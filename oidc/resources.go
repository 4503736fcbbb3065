package oidc

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// maxResources bounds the resource indicators of one request.
const maxResources = 5

// canonicalResource checks an RFC 8707 resource indicator — an absolute http(s) URI without
// a fragment — and returns it with scheme and host in lower case, the canonical form MCP
// names (clients may send either).
func canonicalResource(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || len(raw) > maxURILen:
		return "", errors.New("not a URI")
	case u.Scheme == "" || u.Host == "" || u.Opaque != "":
		return "", errors.New("not an absolute URI")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", errors.New("contains a fragment")
	case u.User != nil:
		return "", errors.New("contains credentials")
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", errors.New("must be an http(s) URI")
	}
	return u.String(), nil
}

// resources checks the resource indicators of an authorization request: each must be a
// valid URI and, when resources are configured, one of them.
func (p *Provider) resources(raw []string) ([]string, error) {
	if len(raw) > maxResources {
		return nil, oidc.ErrInvalidTarget().WithDescription("at most %d resource parameters", maxResources)
	}
	var out []string
	for _, r := range raw {
		res, err := canonicalResource(r)
		if err != nil {
			return nil, oidc.ErrInvalidTarget().WithDescription("resource %q: %s", r, err.Error())
		}
		if _, known := p.cfg.Resources[res]; len(p.cfg.Resources) > 0 && !known {
			return nil, oidc.ErrInvalidTarget().WithDescription("resource %q is not served by this authorization server", r)
		}
		if !slices.Contains(out, res) {
			out = append(out, res)
		}
	}
	return out, nil
}

// serverName is the MCP server name of a resource, the middle segment of the permissions
// ("mcp:<server>:<tool>"): the configured name, else ServerName's.
func (p *Provider) serverName(resource string) string {
	if name, ok := p.cfg.Resources[resource]; ok {
		return name
	}
	return ServerName(resource)
}

// ServerName derives an MCP server name from a resource URI when none is configured: host,
// port and path, each run of characters other than letters, digits, '.', '_' and '-'
// replaced by one '-'. "https://mcp.example.com/mcp" is "mcp.example.com-mcp".
func ServerName(resource string) string {
	u, err := url.Parse(resource)
	if err != nil {
		return "invalid"
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(u.Host) + u.Path {
		ok := r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.TrimSuffix(b.String(), "-")
	if name == "" {
		return "invalid"
	}
	return name
}

// validServerName reports whether name can be one segment of a resource.
func validServerName(name string) bool {
	return name != "" && name != "*" && !strings.ContainsAny(name, ": \t\r\n*")
}
