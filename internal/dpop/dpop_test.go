package dpop

import (
	"testing"
	"time"
)

// TestSameURL: htu is compared as RFC 9449 section 4.3 asks.
func TestSameURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		htu, request string
		same         bool
	}{
		{"https://as.example.com/oauth/token", "https://as.example.com/oauth/token", true},
		{"HTTPS://AS.Example.com/oauth/token", "https://as.example.com/oauth/token", true},
		{"https://as.example.com:443/oauth/token", "https://as.example.com/oauth/token", true},
		{"http://127.0.0.1:80/mcp", "http://127.0.0.1/mcp", true},
		{"https://as.example.com/oauth/token?x=1#f", "https://as.example.com/oauth/token", true},
		{"https://as.example.com", "https://as.example.com/", true},
		{"http://[::1]:8080/mcp", "http://[::1]:8080/mcp", true},
		{"https://as.example.com/oauth/Token", "https://as.example.com/oauth/token", false},
		{"https://as.example.com:8443/oauth/token", "https://as.example.com/oauth/token", false},
		{"http://as.example.com/oauth/token", "https://as.example.com/oauth/token", false},
		{"https://evil.example.com/oauth/token", "https://as.example.com/oauth/token", false},
		{"/oauth/token", "https://as.example.com/oauth/token", false},
		{"", "https://as.example.com/oauth/token", false},
	} {
		if got := SameURL(tc.htu, tc.request); got != tc.same {
			t.Errorf("SameURL(%q, %q) = %v, want %v", tc.htu, tc.request, got, tc.same)
		}
	}
}

// TestCache: a proof is accepted once within its window, forgotten after it, and a full
// cache of live proofs refuses new ones rather than forgetting a live one.
func TestCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	c := NewCache(2)
	a := &Proof{JKT: "k1", JTI: "a", IAT: now}
	if err := c.Use(a, now); err != nil {
		t.Fatal(err)
	}
	if err := c.Use(a, now.Add(time.Second)); err == nil {
		t.Fatal("a replay was accepted")
	}
	if err := c.Use(&Proof{JKT: "k2", JTI: "a", IAT: now}, now); err != nil {
		t.Fatalf("the same jti of another key: %v", err)
	}
	if err := c.Use(&Proof{JKT: "k1", JTI: "b", IAT: now}, now); err == nil {
		t.Fatal("a full cache of live proofs accepted another")
	}
	later := now.Add(2 * Window)
	if err := c.Use(&Proof{JKT: "k1", JTI: "b", IAT: later}, later); err != nil {
		t.Fatalf("once the old proofs aged out: %v", err)
	}
	if len(c.seen) != 1 {
		t.Fatalf("the aged-out proofs were not forgotten: %v", c.seen)
	}
}
