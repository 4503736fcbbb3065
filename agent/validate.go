package agent

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Validate checks an agent's fields, permissions and constraints. It does not check
// ExpiresAt against the clock: that rule belongs to create and update.
func (a *Agent) Validate() error {
	if err := ValidateName("name", a.Name); err != nil {
		return err
	}
	if err := ValidateIdentifier("ownerId", a.OwnerID); err != nil {
		return err
	}
	if err := ValidateIdentifier("tenantId", a.TenantID); err != nil {
		return err
	}
	if !a.Type.Valid() {
		return invalid("type", "unknown agent type %q (want autonomous, delegated or service)", a.Type)
	}
	if !a.Status.Valid() {
		return invalid("status", "unknown status %q", a.Status)
	}
	if err := ValidatePermissions("permissions", a.Permissions); err != nil {
		return err
	}
	return ValidateMetadata("metadata", a.Metadata)
}

// ValidateName checks a human-readable name.
func ValidateName(field, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return invalid(field, "must not be empty")
	case len(s) > MaxNameLen:
		return invalid(field, "longer than %d bytes", MaxNameLen)
	case !utf8.ValidString(s):
		return invalid(field, "not valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return invalid(field, "contains a control character")
	}
	return nil
}

// ValidateIdentifier checks an opaque identifier such as an owner or tenant id.
func ValidateIdentifier(field, s string) error {
	switch {
	case s == "":
		return invalid(field, "must not be empty")
	case len(s) > MaxIDLen:
		return invalid(field, "longer than %d bytes", MaxIDLen)
	case !utf8.ValidString(s):
		return invalid(field, "not valid UTF-8")
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return invalid(field, "contains whitespace or a control character")
	}
	return nil
}

// ValidatePermissions checks a list of permissions; field names the list in errors.
func ValidatePermissions(field string, ps []Permission) error {
	if len(ps) > MaxPermissions {
		return invalid(field, "more than %d permissions", MaxPermissions)
	}
	ids := make(map[string]bool, len(ps))
	for i, p := range ps {
		f := fmt.Sprintf("%s[%d]", field, i)
		if p.ID != "" {
			if ids[p.ID] {
				return invalid(f+".id", "duplicate permission id %q", p.ID)
			}
			ids[p.ID] = true
		}
		if err := p.Validate(f); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks one permission; field is its path in errors, e.g. "permissions[2]".
func (p Permission) Validate(field string) error {
	if err := ValidateResourcePattern(p.Resource); err != nil {
		return invalid(field+".resource", "%q: %v", truncate(p.Resource), err)
	}
	if err := validateActions(field+".actions", p.Actions); err != nil {
		return err
	}
	if p.Constraints != nil {
		return p.Constraints.Validate(field + ".constraints")
	}
	return nil
}

func validateActions(field string, actions []string) error {
	if len(actions) == 0 {
		return invalid(field, "must name at least one action (or \"*\")")
	}
	if len(actions) > MaxActions {
		return invalid(field, "more than %d actions", MaxActions)
	}
	seen := make(map[string]bool, len(actions))
	for i, a := range actions {
		f := fmt.Sprintf("%s[%d]", field, i)
		if a == "" {
			return invalid(f, "must not be empty")
		}
		if len(a) > MaxActionLen {
			return invalid(f, "longer than %d bytes", MaxActionLen)
		}
		if a != "*" && strings.IndexFunc(a, func(r rune) bool {
			return r == '*' || r == ',' || unicode.IsSpace(r) || unicode.IsControl(r)
		}) >= 0 {
			return invalid(f, "%q may not contain '*', ',', whitespace or control characters", truncate(a))
		}
		if seen[a] {
			return invalid(f, "duplicate action %q", a)
		}
		seen[a] = true
	}
	return nil
}

// Validate checks constraints; field is their path in errors.
func (c *Constraints) Validate(field string) error {
	if rl := c.RateLimit; rl != nil {
		if rl.Max < 1 {
			return invalid(field+".rateLimit.max", "must be at least 1")
		}
		if rl.Window.D() < time.Second || rl.Window.D() > MaxRateWindow {
			return invalid(field+".rateLimit.window", "must be between 1s and %s", MaxRateWindow)
		}
	}
	if len(c.TimeWindows) > MaxListEntries {
		return invalid(field+".timeWindows", "more than %d windows", MaxListEntries)
	}
	for i, w := range c.TimeWindows {
		if err := w.Validate(fmt.Sprintf("%s.timeWindows[%d]", field, i)); err != nil {
			return err
		}
	}
	if len(c.IPAllowlist) > MaxListEntries {
		return invalid(field+".ipAllowlist", "more than %d entries", MaxListEntries)
	}
	for i, s := range c.IPAllowlist {
		if _, err := ParseIPOrPrefix(s); err != nil {
			return invalid(fmt.Sprintf("%s.ipAllowlist[%d]", field, i), "%q is not an IP address or CIDR", truncate(s))
		}
	}
	if len(c.ArgumentPatterns) > MaxListEntries {
		return invalid(field+".argumentPatterns", "more than %d patterns", MaxListEntries)
	}
	for name, re := range c.ArgumentPatterns {
		f := fmt.Sprintf("%s.argumentPatterns.%s", field, truncate(name))
		if name == "" {
			return invalid(field+".argumentPatterns", "argument name must not be empty")
		}
		if err := ValidateArgumentPattern(re); err != nil {
			return invalid(f, "%v", err)
		}
	}
	if ap := c.Approval; ap != nil {
		if ap.TTL.D() < 0 {
			return invalid(field+".approval.ttl", "must not be negative")
		}
		if len(ap.Approvers) > MaxListEntries {
			return invalid(field+".approval.approvers", "more than %d approvers", MaxListEntries)
		}
		for i, id := range ap.Approvers {
			if err := ValidateIdentifier(fmt.Sprintf("%s.approval.approvers[%d]", field, i), id); err != nil {
				return err
			}
		}
	}
	return nil
}

// ParseIPOrPrefix parses an IP address or a CIDR into a prefix (a lone address becomes a
// single-address prefix).
func ParseIPOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Weekday parses a three-letter lower-case day name ("mon").
func Weekday(s string) (time.Weekday, bool) {
	d, ok := weekdays[s]
	return d, ok
}

// Validate checks a time window; field is its path in errors.
func (w TimeWindow) Validate(field string) error {
	start, err := ParseClock(w.Start)
	if err != nil {
		return invalid(field+".start", "%v", err)
	}
	end, err := ParseClock(w.End)
	if err != nil {
		return invalid(field+".end", "%v", err)
	}
	if start == end {
		return invalid(field+".end", "must differ from start")
	}
	if w.Timezone == "" {
		return invalid(field+".timezone", "must name an IANA time zone such as \"Europe/Berlin\" or \"UTC\"")
	}
	if _, err := time.LoadLocation(w.Timezone); err != nil || strings.EqualFold(w.Timezone, "local") {
		return invalid(field+".timezone", "unknown IANA time zone %q", truncate(w.Timezone))
	}
	if len(w.Days) > 7 {
		return invalid(field+".days", "more than 7 days")
	}
	for i, d := range w.Days {
		if _, ok := Weekday(d); !ok {
			return invalid(fmt.Sprintf("%s.days[%d]", field, i), "%q is not one of mon, tue, wed, thu, fri, sat, sun", truncate(d))
		}
	}
	return nil
}

// ParseClock parses "HH:MM" (00:00 to 24:00) into minutes after midnight.
func ParseClock(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not a time of day in the form HH:MM", truncate(s))
	}
	h, m := digits2(s[0:2]), digits2(s[3:5])
	if h < 0 || m < 0 || h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time of day between 00:00 and 24:00", s)
	}
	return h*60 + m, nil
}

func digits2(s string) int {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return -1
	}
	return int(s[0]-'0')*10 + int(s[1]-'0')
}

// ValidateMetadata checks free-form metadata.
func ValidateMetadata(field string, m map[string]string) error {
	if len(m) > MaxMetadataEntries {
		return invalid(field, "more than %d entries", MaxMetadataEntries)
	}
	for k, v := range m {
		f := field + "." + truncate(k)
		switch {
		case k == "" || len(k) > MaxMetadataKeyLen:
			return invalid(field, "keys must be 1 to %d bytes", MaxMetadataKeyLen)
		case len(v) > MaxMetadataValLen:
			return invalid(f, "value longer than %d bytes", MaxMetadataValLen)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return invalid(f, "not valid UTF-8")
		case strings.IndexFunc(k, unicode.IsControl) >= 0:
			return invalid(f, "the key contains a control character")
		}
	}
	return nil
}

// truncate keeps error messages short when the input is huge.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
