// Package clientip finds the address of the client behind a request. An agent must not be
// able to claim its own IP: the address comes from the connection, and X-Forwarded-For is
// believed only as far as it was written by proxies the operator trusts.
package clientip

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Resolver finds client addresses. The zero value trusts no proxy: the connection's peer is
// the client.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a resolver that trusts the proxies in the given addresses or CIDRs.
func New(trustedProxies []string) (*Resolver, error) {
	r := &Resolver{}
	for _, s := range trustedProxies {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an IP address or CIDR", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// Peers are compared unmapped (see parse), so an IPv4-mapped entry is its IPv4 prefix.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

// Resolve returns the client's address given the connection's remote address ("ip:port" or
// "ip") and the request's X-Forwarded-For header values. Walking from the peer towards the
// client, every hop a trusted proxy added is accepted; the first address not written by a
// trusted proxy is the client. Malformed entries stop the walk at the last trusted hop.
// It returns "" only if the remote address itself is unparseable.
func (r *Resolver) Resolve(remoteAddr string, forwardedFor []string) string {
	peer, ok := parse(remoteAddr)
	if !ok {
		return ""
	}
	if !r.isTrusted(peer) {
		return peer.String()
	}
	var hops []string
	for _, v := range forwardedFor {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parse(hops[i])
		if !ok {
			return client.String()
		}
		client = a
		if !r.isTrusted(a) {
			return a.String()
		}
	}
	return client.String()
}

// FromTrustedProxy reports whether the connection's remote address ("ip:port" or "ip") is
// a proxy the operator trusts, so that the headers it adds (X-Forwarded-Proto) may be
// believed.
func (r *Resolver) FromTrustedProxy(remoteAddr string) bool {
	peer, ok := parse(remoteAddr)
	return ok && r.isTrusted(peer)
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parse reads "ip", "ip:port" or "[ipv6]:port", unmapping IPv4-in-IPv6.
func parse(s string) (netip.Addr, bool) {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
