# Tests that travel with the bundle: a revision whose tests fail is never activated.
package kavach.custom_test

import rego.v1

import data.kavach.custom

friday := time.parse_rfc3339_ns("2026-03-06T10:00:00+01:00")

thursday := time.parse_rfc3339_ns("2026-03-05T10:00:00+01:00")

test_production_writes_denied_on_friday if {
	count(custom.deny) == 1 with input as {"action": "push", "segs": ["mcp", "prod", "repo"], "arguments": {}, "now_ns": friday}
}

test_production_writes_allowed_on_thursday if {
	count(custom.deny) == 0 with input as {"action": "push", "segs": ["mcp", "prod", "repo"], "arguments": {}, "now_ns": thursday}
}

test_reads_allowed_on_friday if {
	count(custom.deny) == 0 with input as {"action": "read", "segs": ["mcp", "prod", "repo"], "arguments": {}, "now_ns": friday}
}

test_url_outside_allowlist_denied if {
	denies := custom.deny with input as {"action": "call", "segs": ["mcp", "web", "fetch"], "now_ns": thursday,
		"arguments": {"url": "see https://evil.example.net/x?y=1 please"}}
	some d in denies
	d.code == "ARGUMENT_NOT_ALLOWED"
	contains(d.reason, "evil.example.net")
}

test_url_on_allowlist_allowed if {
	count(custom.deny) == 0 with input as {"action": "call", "segs": ["mcp", "web", "fetch"], "now_ns": thursday,
		"arguments": {"url": "https://GitHub.com:443/kavachos", "n": 3}}
}

test_large_transfer_needs_approval if {
	count(custom.require_approval) == 1 with input as {"action": "transfer", "arguments": {"amount": 5000}}
	count(custom.require_approval) == 0 with input as {"action": "transfer", "arguments": {"amount": 50}}
}
