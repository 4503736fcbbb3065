# Unit tests for policies/authz.rego. Run with `kavach policy test` (or `opa test policies
# tests/rego`); `go test ./engine` runs them too.
package kavach.authz_test

import rego.v1

import data.kavach.authz

# --- the shared decision table (tests/rego/testdata/decisions.json) -----------------------
#
# The same cases run through the whole Go engine in kavach_test.go. Here the policy alone
# is checked: for codes that depend on stored state (rate limits, approvals) the policy
# must return a candidate carrying that obligation; the engine does the rest.

test_decision_table if {
	failures := [c.name | some c in data.testdata.cases; not c.go_only; not case_ok(c)]
	print("decision table failures:", failures)
	count(failures) == 0
}

test_decision_table_is_large_enough if {
	count(data.testdata.cases) >= 60
}

case_ok(c) if {
	d := decide(c)
	expectation_met(c, d)
}

decide(c) := authz.decision if {
	c.agent == null
} else := d if {
	compiled := data.testdata.compiled[c.name]
	d := authz.decision with data.kavach.agents as {c.name: compiled.agent}
		with data.kavach.grants as {c.name: compiled.grants}
		with input as case_input(c)
}

case_input(c) := object.union_n([
	{
		"agent_id": c.name,
		"action": c.request.action,
		"resource": c.request.resource,
		"arguments": object.get(c.request, "arguments", {}),
		"now_ns": time.parse_rfc3339_ns(c.at),
	},
	{k: v | some k, v in c.request; k == "ip"},
	long_args(object.get(c.request, "arguments", {})),
])

# The engine names the string arguments longer than 4096 bytes, the longest value matched
# against a pattern (agent.MaxMatchedValueLen). The table's values are ASCII: characters
# are bytes.
long_args(args) := {"long_args": long} if {
	long := {k: true | some k, v in args; is_string(v); count(v) > 4096}
	count(long) > 0
} else := {}

stateful := {"RATE_LIMITED", "APPROVAL_REQUIRED", "APPROVAL_DENIED"}

expectation_met(c, d) if {
	not c.want.code in stateful
	c.want.code != "ALLOWED"
	d.code == c.want.code
}

expectation_met(c, d) if {
	c.want.code == "ALLOWED"
	d.code == "ALLOWED"
	grant_ok(c, d)
}

expectation_met(c, d) if {
	c.want.code == "RATE_LIMITED"
	d.code == "ALLOWED"
	some cand in d.candidates
	count(cand.rate) > 0
}

expectation_met(c, d) if {
	c.want.code in {"APPROVAL_REQUIRED", "APPROVAL_DENIED"}
	d.code == "ALLOWED"
	some cand in d.candidates
	cand.approval != null
}

grant_ok(c, _) if not c.want.grant

# The engine takes the first grant with no obligations...
grant_ok(c, d) if {
	free := [cand.id | some cand in d.candidates; count(cand.rate) == 0; cand.approval == null]
	count(free) > 0
	free[0] == sprintf("p%d", [c.want.grant])
}

# ...or, when every grant has obligations, one of them.
grant_ok(c, d) if {
	free := [cand.id | some cand in d.candidates; count(cand.rate) == 0; cand.approval == null]
	count(free) == 0
	some cand in d.candidates
	cand.id == sprintf("p%d", [c.want.grant])
}

# --- individual rules --------------------------------------------------------------------

grant(overrides) := object.union(
	{
		"id": "g", "re": "^mcp:github:.+$",
		"ip": [], "windows": [], "args": [], "approval": null, "rate": [], "via": [],
		"expires_ns": 0,
	},
	overrides,
)

agents := {"a": {"tenant": "t", "owner": "o", "status": "active", "expires_ns": 0}}

# decide_read(grants, request) decides the request with the agent "a" holding grants for the action "read".
decide_read(grants, request) := d if {
	d := authz.decision with data.kavach.agents as agents
		with data.kavach.grants as {"a": {"read": grants}}
		with input as request
}

req(overrides) := object.union(
	{"agent_id": "a", "action": "read", "resource": "mcp:github:repos", "arguments": {}, "now_ns": 1772618400000000000},
	overrides,
)

test_resource_tail_needs_a_segment if {
	authz.resource_match(grant({})) with input as req({"resource": "mcp:github:x"})
	authz.resource_match(grant({})) with input as req({"resource": "mcp:github:x:y"})
	not authz.resource_match(grant({})) with input as req({"resource": "mcp:github"})
	not authz.resource_match(grant({})) with input as req({"resource": "mcp:githubx:y"})
}

test_resource_star_segment if {
	g := grant({"re": "^mcp:[^:]+:read$"})
	authz.resource_match(g) with input as req({"resource": "mcp:slack:read"})
	not authz.resource_match(g) with input as req({"resource": "mcp:slack:write"})
	not authz.resource_match(g) with input as req({"resource": "mcp:a:b:read"})
}

test_resource_exact if {
	g := grant({"re": "^mcp:github:repos$"})
	authz.resource_match(g) with input as req({})
	not authz.resource_match(g) with input as req({"resource": "mcp:github:repos:1"})
}

test_grants_for_the_action_or_any_action if {
	grants := {"a": {"write": [grant({})]}}
	authz.decision.code == "NO_PERMISSION" with data.kavach.agents as agents
		with data.kavach.grants as grants with input as req({})
	any := {"a": {"*": [grant({})]}}
	authz.decision.code == "ALLOWED" with data.kavach.agents as agents
		with data.kavach.grants as any with input as req({"action": "delete"})
}

test_ip_every_allowlist_must_hold if {
	g := grant({"ip": [["10.0.0.0/8"], ["10.1.0.0/16"]]})
	not authz.failed(g) with input as req({"ip": "10.1.2.3"})
	authz.failed(g) == "IP_NOT_ALLOWED" with input as req({"ip": "10.2.0.1"})
	authz.failed(g) == "IP_NOT_ALLOWED" with input as req({})
}

test_agent_codes if {
	authz.decision.code == "AGENT_NOT_FOUND" with data.kavach.agents as {} with input as req({})
	revoked := {"a": object.union(agents.a, {"status": "revoked"})}
	authz.decision.code == "AGENT_REVOKED" with data.kavach.agents as revoked with input as req({})
	expired := {"a": object.union(agents.a, {"expires_ns": 1})}
	authz.decision.code == "AGENT_EXPIRED" with data.kavach.agents as expired with input as req({})
}

test_no_permission if {
	decide_read([], req({})).code == "NO_PERMISSION"
}

test_candidates_carry_obligations if {
	rate := [{"key": "a/g", "max": 1, "window_ns": 1000000000}]
	g := grant({"rate": rate, "approval": {"ttl_ns": 0, "approvers": ["x"]}, "via": ["dlg_1"]})
	d := decide_read([g], req({}))
	d.code == "ALLOWED"
	d.candidates == [g]
}

test_argument_patterns_are_anchored_by_the_compiler if {
	g := grant({"args": [{"name": "b", "re": "^(?:dev)$"}]})
	not authz.failed(g) with input as req({"arguments": {"b": "dev"}})
	authz.failed(g) == "ARGUMENT_NOT_ALLOWED" with input as req({"arguments": {"b": "dev2"}})
	authz.failed(g) == "ARGUMENT_NOT_ALLOWED" with input as req({"arguments": {"b": ["dev"]}})
	authz.failed(g) == "ARGUMENT_NOT_ALLOWED" with input as req({})
}

test_long_arguments_fail_without_being_matched if {
	g := grant({"args": [{"name": "b", "re": "^(?:a*)$"}]})
	not authz.failed(g) with input as req({"arguments": {"b": "aaa", "body": "x"}, "long_args": {"body": true}})
	authz.failed(g) == "ARGUMENT_NOT_ALLOWED" with input as req({"arguments": {"b": "aaa"}, "long_args": {"b": true}})
}

test_window_spans_are_minutes_of_the_local_week if {
	# Friday 22:00 to Saturday 06:00 in UTC: minutes 5 * 1440 + 1320 to 6 * 1440 + 360.
	g := grant({"windows": [{"UTC": [[8520, 9000]]}]})
	not authz.failed(g) with input as req({"now_ns": time.parse_rfc3339_ns("2026-03-28T01:00:00Z")})
	authz.failed(g) == "OUTSIDE_TIME_WINDOW" with input as req({"now_ns": time.parse_rfc3339_ns("2026-03-27T01:00:00Z")})
	# 23:30 in Berlin on a Friday is 22:30 UTC.
	berlin := grant({"windows": [{"Europe/Berlin": [[8520, 9000]]}]})
	not authz.failed(berlin) with input as req({"now_ns": time.parse_rfc3339_ns("2026-03-27T22:30:00Z")})
	authz.failed(berlin) == "OUTSIDE_TIME_WINDOW" with input as req({"now_ns": time.parse_rfc3339_ns("2026-03-27T20:30:00Z")})
}

test_every_window_set_must_hold if {
	g := grant({"windows": [{"UTC": [[0, 10080]]}, {"UTC": [[0, 60]]}]})
	not authz.failed(g) with input as req({"now_ns": time.parse_rfc3339_ns("2026-03-29T00:30:00Z")})
	authz.failed(g) == "OUTSIDE_TIME_WINDOW" with input as req({"now_ns": time.parse_rfc3339_ns("2026-03-29T01:30:00Z")})
}

test_custom_deny_overrides_allow if {
	d := decide_read([grant({})], req({})) with data.kavach.custom.deny as [{"code": "POLICY_DENIED", "reason": "frozen"}]
	d.code == "POLICY_DENIED"
	d.deny == [{"code": "POLICY_DENIED", "reason": "frozen"}]
}
