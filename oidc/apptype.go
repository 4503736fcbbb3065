package oidc

import "net/url"

// Application types of OpenID Connect Dynamic Client Registration 1.0, which the MCP
// 2026-07-28 revision asks clients to send.
const (
	appNative = "native" // desktop, CLI and mobile clients, and web apps served on localhost
	appWeb    = "web"    // browser-based clients served from a remote host
)

// checkApplicationType holds the redirect URIs to the client's application_type, as OpenID
// Connect Registration does within what MCP allows at all (https, or http on loopback): a
// native client is redirected only to its own machine (localhost or a loopback address), a
// web client only to https URIs on another host, so that one client id cannot serve both
// kinds. Without an application_type the type follows from the URIs (OpenID's default of
// web would refuse the loopback URIs every client written before the revision registers);
// a client that mixes both kinds keeps registering without a type, as before.
func (m *ClientMetadata) checkApplicationType() error {
	switch m.ApplicationType {
	case appNative, appWeb:
		for _, raw := range m.RedirectURIs {
			if kind := redirectKind(raw); kind != m.ApplicationType {
				return invalidRedirect("redirect URI %q is not allowed for application_type %s: native clients use "+
					"localhost or a loopback address, web clients https on another host", raw, m.ApplicationType)
			}
		}
	case "":
		m.ApplicationType = impliedApplicationType(m.RedirectURIs)
	default:
		return invalidMetadata("application_type %q must be web or native", m.ApplicationType)
	}
	return nil
}

// redirectKind says which application type a redirect URI belongs to: native for one on
// a loopback host (https there too, as the MCP SDKs infer it), web for https elsewhere.
func redirectKind(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return ""
	case isLoopbackHost(u.Hostname()):
		return appNative
	case u.Scheme == "https":
		return appWeb
	}
	return ""
}

// impliedApplicationType is the type all redirect URIs share, or "" when they share none.
func impliedApplicationType(uris []string) string {
	if len(uris) == 0 {
		return ""
	}
	kind := redirectKind(uris[0])
	for _, raw := range uris[1:] {
		if redirectKind(raw) != kind {
			return ""
		}
	}
	return kind
}
