package clientip

import "testing"

func TestResolve(t *testing.T) {
	t.Parallel()
	r, err := New([]string{"10.0.0.0/8", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	none := &Resolver{}
	cases := []struct {
		name   string
		res    *Resolver
		remote string
		xff    []string
		want   string
	}{
		{"no proxy trusted: the header is ignored", none, "203.0.113.5:4000", []string{"1.2.3.4"}, "203.0.113.5"},
		{"untrusted peer cannot claim an address", r, "203.0.113.5:4000", []string{"10.1.1.1"}, "203.0.113.5"},
		{"trusted proxy: its client", r, "10.0.0.2:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"left-most untrusted hop, not the left-most hop", r, "10.0.0.2:80", []string{"6.6.6.6, 198.51.100.7, 10.0.0.3"}, "198.51.100.7"},
		{"several header lines", r, "10.0.0.2:80", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},
		{"all hops trusted: the first one", r, "10.0.0.2:80", []string{"10.9.9.9, 10.0.0.3"}, "10.9.9.9"},
		{"garbage stops at the last trusted hop", r, "10.0.0.2:80", []string{"not-an-ip, 10.0.0.3"}, "10.0.0.3"},
		{"no header behind a trusted proxy", r, "10.0.0.2:80", nil, "10.0.0.2"},
		{"ipv6 peer", r, "[2001:db8::1]:443", []string{"2001:db8::99"}, "2001:db8::99"},
		{"ipv4-mapped peer", none, "[::ffff:192.0.2.1]:80", nil, "192.0.2.1"},
		{"bare address", none, "192.0.2.1", nil, "192.0.2.1"},
		{"unparseable peer", none, "nonsense", nil, ""},
	}
	for _, c := range cases {
		if got := c.res.Resolve(c.remote, c.xff); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if _, err := New([]string{"10.0.0.0/99"}); err == nil {
		t.Error("a bad CIDR must be rejected")
	}
}

func TestFromTrustedProxy(t *testing.T) {
	t.Parallel()
	r, err := New([]string{"10.0.0.0/8", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	for remote, want := range map[string]bool{
		"10.2.3.4:443":          true,
		"10.2.3.4":              true,
		"[2001:db8::1]:8080":    true,
		"[::ffff:10.0.0.1]:80":  true,
		"203.0.113.5:4000":      false,
		"[2001:db8::2]:8080":    false,
		"":                      false,
		"not an address":        false,
		"10.2.3.4:443:whatever": false,
	} {
		if got := r.FromTrustedProxy(remote); got != want {
			t.Errorf("FromTrustedProxy(%q) = %v, want %v", remote, got, want)
		}
	}
	if (&Resolver{}).FromTrustedProxy("10.2.3.4:443") {
		t.Error("a resolver that trusts no proxy trusted one")
	}
	// IPv4-mapped entries trust the IPv4 peers they name, as peers are compared unmapped.
	mapped, err := New([]string{"::ffff:192.0.2.1", "::ffff:10.0.0.0/104"})
	if err != nil {
		t.Fatal(err)
	}
	for remote, want := range map[string]bool{
		"192.0.2.1:80":          true,
		"[::ffff:192.0.2.1]:80": true,
		"10.9.9.9:80":           true,
		"192.0.2.2:80":          false,
		"11.0.0.1:80":           false,
	} {
		if got := mapped.FromTrustedProxy(remote); got != want {
			t.Errorf("mapped entries: FromTrustedProxy(%q) = %v, want %v", remote, got, want)
		}
	}
}
