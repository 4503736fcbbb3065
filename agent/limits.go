package agent

import (
	"net/netip"
	"time"
)

// Limits on what callers send, in bytes of UTF-8 unless said otherwise. Every string a
// request carries has one, so that no caller can store a megabyte under one id in the audit
// ledger, and oversized input is a clear 4xx naming the field rather than a memory problem.
// docs/http.md lists them under "Limits".
const (
	// MaxIDLen bounds every id: agents, tenants, owners, API keys, delegations, approvals,
	// permissions, approvers.
	MaxIDLen = 200
	// MaxNameLen bounds human-readable names of agents, tenants and API keys.
	MaxNameLen = 200
	// MaxActionLen bounds an action, in a permission or in a call.
	MaxActionLen = 128
	// MaxResourceLen bounds a resource or resource pattern.
	MaxResourceLen = 512
	// MaxArgumentNameLen bounds the name of a call's argument and of an argument pattern.
	MaxArgumentNameLen = 128
	// MaxUserAgentLen bounds the user agent of a call.
	MaxUserAgentLen = 512
	// MaxReasonLen bounds the reason given with an approval or a denial.
	MaxReasonLen = 1000
	// MaxCursorLen bounds a page cursor.
	MaxCursorLen = 512
	// MaxTokenLen bounds an agent token or API key presented in a body.
	MaxTokenLen = 128
	// MaxStringLen bounds any other string: types, roles, statuses, times, durations, time
	// zones, CIDRs, query filters.
	MaxStringLen = 256

	MaxMetadataEntries = 64
	MaxMetadataKeyLen  = 128
	MaxMetadataValLen  = 4096

	// Limits on an agent's permissions, which keep its compiled form small.
	MaxPermissions = 256
	MaxActions     = 64
	MaxListEntries = 256
	MaxPatternLen  = 1024
	MaxRateWindow  = 31 * 24 * time.Hour
)

// StringLimit is the most bytes a request's string field may hold, by the field's JSON or
// query parameter name ("agentId", "userAgent"); an element of a list has the list's name.
func StringLimit(name string) int {
	switch name {
	case "id", "agentId", "fromAgentId", "toAgentId", "ownerId", "tenantId", "approvers":
		return MaxIDLen
	case "name":
		return MaxNameLen
	case "action", "actions":
		return MaxActionLen
	case "resource":
		return MaxResourceLen
	case "userAgent":
		return MaxUserAgentLen
	case "reason":
		return MaxReasonLen
	case "cursor":
		return MaxCursorLen
	case "token":
		return MaxTokenLen
	}
	return MaxStringLen
}

// MapLimits are the most bytes a key and a value of a request's string-keyed object may
// hold, by the object's JSON name. A value of zero means values are not strings limited
// one by one (a call's arguments are limited as a whole).
func MapLimits(name string) (key, value int) {
	switch name {
	case "metadata":
		return MaxMetadataKeyLen, MaxMetadataValLen
	case "argumentPatterns":
		return MaxArgumentNameLen, MaxPatternLen
	case "arguments":
		return MaxArgumentNameLen, 0
	}
	return MaxStringLen, MaxStringLen
}

// ValidateIP checks the address of a caller: an IPv4 or IPv6 address and nothing more — no
// zone ("fe80::1%eth0"), no CIDR, no surrounding white space.
func ValidateIP(field, s string) error {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return invalid(field, "%q is not an IP address", truncate(s))
	case a.Zone() != "":
		return invalid(field, "%q has a zone; send the address alone", truncate(s))
	}
	return nil
}
