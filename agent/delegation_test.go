package agent

import "testing"

func TestContainsPattern(t *testing.T) {
	t.Parallel()
	cases := []struct {
		parent, child string
		want          bool
	}{
		{"mcp:github:*", "mcp:github:repos", true},
		{"mcp:github:*", "mcp:github:repos:42", true},
		{"mcp:github:*", "mcp:github:*", true},
		{"mcp:github:*", "mcp:github:repos:*", true},
		{"mcp:github:*", "mcp:github:*:issues", true},
		{"mcp:github:*", "mcp:github", false},
		{"mcp:github:*", "mcp:*", false},
		{"mcp:github:*", "mcp:*:repos", false},
		{"mcp:github:*", "*", false},
		{"mcp:github:*", "mcp:gitlab:repos", false},
		{"*", "anything", true},
		{"*", "a:b:c", true},
		{"*", "*", true},
		{"*", "a:*", true},
		{"mcp:*", "mcp:github:*", true},
		{"mcp:*", "mcp:github", true},
		{"mcp:*", "mcp", false},
		{"mcp:*", "*", false},
		{"mcp:*:read", "mcp:slack:read", true},
		{"mcp:*:read", "mcp:*:read", true},
		{"mcp:*:read", "mcp:slack:write", false},
		{"mcp:*:read", "mcp:slack:*", false},
		{"mcp:*:read", "mcp:slack:x:read", false},
		{"mcp:slack:read", "mcp:*:read", false},
		{"mcp:github:repos", "mcp:github:repos", true},
		{"mcp:github:repos", "mcp:github:*", false},
		{"mcp:github:repos", "mcp:github:repos:1", false},
		{"*:github:*", "mcp:github:repos", true},
		{"*:github:*", "mcp:gitlab:repos", false},
		{"*:*", "a:b", true},
		{"*:*", "a", false},
		{"*:*", "a:b:c", true},
		{"a:*:*", "a:b:*", true},
		{"a:*:*", "a:*", false},
		{"a:*:c", "a:b:c", true},
		{"a:*:c", "a:*:*", false},
	}
	for _, c := range cases {
		if got := ContainsPattern(c.parent, c.child); got != c.want {
			t.Errorf("ContainsPattern(%q, %q) = %v, want %v", c.parent, c.child, got, c.want)
		}
	}
}

func TestContainsActions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		parent, child []string
		want          bool
	}{
		{[]string{"read", "write"}, []string{"read"}, true},
		{[]string{"read", "write"}, []string{"read", "write"}, true},
		{[]string{"read"}, []string{"read", "write"}, false},
		{[]string{"*"}, []string{"delete"}, true},
		{[]string{"*"}, []string{"*"}, true},
		{[]string{"read", "write"}, []string{"*"}, false},
		{[]string{"read"}, []string{"write"}, false},
	}
	for _, c := range cases {
		if got := ContainsActions(c.parent, c.child); got != c.want {
			t.Errorf("ContainsActions(%v, %v) = %v, want %v", c.parent, c.child, got, c.want)
		}
	}
}
