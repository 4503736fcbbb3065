package agent

import (
	"errors"
	"strings"
	"testing"
)

func withPattern(name, re string) []Permission {
	return []Permission{{Resource: "mcp:github:*", Actions: []string{"push"},
		Constraints: &Constraints{ArgumentPatterns: map[string]string{name: re}}}}
}

// A pattern whose matching cost cannot be bounded is refused when it is written, with the
// field that holds it and why.
func TestCostlyArgumentPatternsAreRefused(t *testing.T) {
	t.Parallel()
	cases := []struct{ re, why string }{
		{`(?:[a-z]{1,1000})+`, "repetition count"},
		{`[a-z]{1,101}`, "repetition count"},
		{`x{101}`, "repetition count"},
		{`(?:[a-z]{1,64})+`, "nested"},
		{`(?:[a-z]+){64}`, "nested"},
		{`(?:(?:[a-z]{1,8}){1,8})+`, "nested"},
		{`[a-z]{1,100}[0-9]{1,100}[A-Z]{1,100}`, "instructions"},
		{strings.Repeat("a", 1025), "longer than"},
		{`(`, "not a valid regular expression"},
	}
	for _, c := range cases {
		err := ValidatePermissions("permissions", withPattern("branch", c.re))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%.40s: accepted, want it refused (%s)", c.re, c.why)
			continue
		}
		if ve.Field != "permissions[0].constraints.argumentPatterns.branch" || !strings.Contains(ve.Message, c.why) {
			t.Errorf("%.40s: field %q, message %q; want the pattern's field and %q", c.re, ve.Field, ve.Message, c.why)
		}
	}
}

// Realistic patterns stay valid under the cost limits.
func TestRealisticArgumentPatternsAreAccepted(t *testing.T) {
	t.Parallel()
	names := make([]string, 40)
	for i := range names {
		names[i] = "release-" + strings.Repeat(string(rune('a'+i%26)), 2) + "-branch"
	}
	for _, re := range []string{
		`dev-.*`, `^(dev|staging)$`, `[a-z0-9-]{1,64}`, `[a-z0-9-]{1,100}`, `main|develop|release/.+`,
		`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`,
		`[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,10}){1,3}`,
		`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`, `[0-9a-f]{40}|[0-9a-f]{64}`,
		`(?:\d{1,3}\.){3}\d{1,3}`, `(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}`, `(?:[a-z0-9]+-)*[a-z0-9]+`,
		`(?:[a-z0-9-]+\.)+[a-z]{2,}`, `(?i)refs/heads/(?:feature|bugfix)/[a-z0-9._-]{1,100}`,
		strings.Join(names, "|"),
	} {
		if err := ValidatePermissions("permissions", withPattern("branch", re)); err != nil {
			t.Errorf("%.60s: %v", re, err)
		}
	}
}
