package oidc

import (
	"net/url"
	"strconv"
	"strings"
)

// redirectRegistered reports whether a requested redirect URI is one of the client's: the
// same string, or, for a loopback http URI registered without a port, the same URI on any
// port. A native client listens on whatever port its system gives it (OAuth 2.1 section
// 8.4.2, RFC 8252 section 7.3), so it cannot name the port in advance, least of all in a
// metadata document shared by every installation.
func (c *client) redirectRegistered(requested string) bool {
	for _, registered := range c.meta.RedirectURIs {
		if requested == registered || loopbackAnyPort(registered, requested) {
			return true
		}
	}
	return false
}

// loopbackAnyPort reports whether requested is registered, an http URI on a loopback host
// without a port, with a port added after the host. Everything else, the host's spelling
// included, must be the same character for character: localhost and 127.0.0.1 are not
// interchangeable, and https or a URI registered with a port matches only exactly.
func loopbackAnyPort(registered, requested string) bool {
	u, err := url.Parse(registered)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Port() != "" || u.Host == "" || !isLoopbackHost(u.Hostname()) {
		return false
	}
	origin := "http://" + u.Host
	if !strings.HasPrefix(registered, origin) || !strings.HasPrefix(requested, origin+":") {
		return false
	}
	rest := strings.TrimPrefix(requested, origin+":")
	digits := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
	return validPort(rest[:digits]) && rest[digits:] == strings.TrimPrefix(registered, origin)
}

// validPort reports whether s is a port number as a client would write one: 1 to 65535,
// without leading zeros.
func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535 && s[0] != '0'
}
