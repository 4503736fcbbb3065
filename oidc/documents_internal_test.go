package oidc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestPublicAddress pins which addresses a metadata document may be fetched from.
func TestPublicAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ip             string
		want, loopback bool
	}{
		{"93.184.215.14", true, true}, {"2606:4700::1111", true, true},
		{"127.0.0.1", false, true}, {"::1", false, true}, {"::ffff:127.0.0.1", false, true},
		{"10.1.2.3", false, false}, {"172.16.0.1", false, false}, {"192.168.0.1", false, false},
		{"169.254.169.254", false, false}, {"fe80::1", false, false}, {"fd12::1", false, false},
		{"100.64.0.1", false, false}, {"0.0.0.0", false, false}, {"::", false, false},
		{"224.0.0.1", false, false}, {"ff02::1", false, false}, {"::ffff:10.0.0.1", false, false},
		{"64:ff9b::a00:1", false, false}, {"2002:a00:1::", false, false}, {"198.18.0.1", false, false},
		{"255.255.255.255", false, false},
	} {
		ip := netip.MustParseAddr(tc.ip)
		if got := publicAddress(ip, false); got != tc.want {
			t.Errorf("publicAddress(%s) = %v, want %v", tc.ip, got, tc.want)
		}
		if got := publicAddress(ip, true); got != (tc.want || tc.loopback) {
			t.Errorf("publicAddress(%s, loopback allowed) = %v, want %v", tc.ip, got, tc.want || tc.loopback)
		}
	}
}

// TestFetchChecksTheDialledAddress: the address check runs on the resolved address at
// connect time, so a host name that resolves to a loopback address is refused too.
func TestFetchChecksTheDialledAddress(t *testing.T) {
	t.Parallel()
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
	t.Cleanup(srv.Close)
	f := newDocumentFetcher(false, 2*time.Second, 1024, time.Now)
	u, err := f.checkDocumentURL("https://kavach.example/client.json")
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme, u.Host = "http", strings.TrimPrefix(srv.URL, "http://") // as if the name had resolved to loopback
	if _, _, err := f.fetch(context.Background(), u, u.String()); err == nil || !strings.Contains(err.Error(), "not public") {
		t.Fatalf("fetch from loopback: %v, want refused as not public", err)
	}
	if hit {
		t.Fatal("the server was reached")
	}
}

// TestDocumentCacheTTL reads Cache-Control within bounds.
func TestDocumentCacheTTL(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]time.Duration{
		"": docCacheDefault, "max-age=600": 10 * time.Minute, "public, max-age=1": docCacheMin,
		"max-age=999999": docCacheMax, "no-store": docCacheMin, "max-age=x": docCacheDefault,
	} {
		if got := cacheTTL(header); got != want {
			t.Errorf("cacheTTL(%q) = %s, want %s", header, got, want)
		}
	}
}

// TestServerName pins the derived MCP server names.
func TestServerName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://mcp.example.com/mcp": "mcp.example.com-mcp", "http://127.0.0.1:9090/mcp": "127.0.0.1-9090-mcp",
		"https://MCP.example.com": "mcp.example.com", "https://a.example/x/y/": "a.example-x-y",
	} {
		if got := ServerName(in); got != want || !validServerName(got) {
			t.Errorf("ServerName(%q) = %q, want %q", in, got, want)
		}
	}
}
