package agent

import (
	"fmt"
	"strings"
	"unicode"
)

// Resource patterns are ":"-separated segments. A "*" segment matches exactly one segment; a
// trailing "*" matches one or more remaining segments; "*" alone matches everything.
// "mcp:github:*" matches "mcp:github:repos" and "mcp:github:repos:42" but not "mcp:github".

const (
	maxResourceSegments = 32
)

// ValidateResourcePattern checks the syntax of a resource pattern.
func ValidateResourcePattern(p string) error {
	return validateResource(p, true)
}

// ValidateResource checks the syntax of a concrete resource, which may not contain "*".
func ValidateResource(r string) error {
	return validateResource(r, false)
}

func validateResource(s string, pattern bool) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if len(s) > MaxResourceLen {
		return fmt.Errorf("longer than %d bytes", MaxResourceLen)
	}
	segs := strings.Split(s, ":")
	if len(segs) > maxResourceSegments {
		return fmt.Errorf("more than %d segments", maxResourceSegments)
	}
	for i, seg := range segs {
		if seg == "" {
			return fmt.Errorf("segment %d is empty (no leading, trailing or doubled ':')", i+1)
		}
		if seg == "*" {
			if !pattern {
				return fmt.Errorf("a resource may not contain '*'")
			}
			continue
		}
		for _, r := range seg {
			if r == '*' {
				return fmt.Errorf("'*' must be a whole segment, as in mcp:github:*")
			}
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				return fmt.Errorf("segment %d contains whitespace or a control character", i+1)
			}
		}
	}
	return nil
}

// MatchResource reports whether resource matches pattern under the segment rules above.
func MatchResource(pattern, resource string) bool {
	if pattern == "*" {
		return true
	}
	ps := strings.Split(pattern, ":")
	rs := strings.Split(resource, ":")
	last := len(ps) - 1
	if ps[last] == "*" {
		if len(rs) < len(ps) {
			return false
		}
	} else if len(rs) != len(ps) {
		return false
	}
	for i, p := range ps {
		if p != "*" && p != rs[i] {
			return false
		}
	}
	return true
}
