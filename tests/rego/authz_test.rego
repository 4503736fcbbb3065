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
	d := authz.decision with data.kavach.agents as {c.name: data.testdata.compiled[c.name]}
		with input as case_input(c)
}

case_input(c) := object.union(
	{
		"agent_id": c.name,
		"action": c.request.action,
		"segs": split(c.request.resource, ":"),
		"n": count(split(c.request.resource, ":")),
		"arguments": object.get(c.request, "arguments", {}),
		"now_ns": time.parse_rfc3339_ns(c.at),
	},
	{k: v | some k, v in c.request; k == "ip"},
)

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
		"id": "g", "prefix": ["mcp", "github"], "tail": true, "n": 2,
		"ip": [], "windows": [], "args": [], "approval": null, "rate": [], "via": [],
		"expires_ns": 0,
	},
	overrides,
)

agents(grants) := {"a": {
	"tenant": "t", "owner": "o", "status": "active", "expires_ns": 0, "grants": grants,
	"by_action": {"read": numbers.range(0, count(grants) - 1)}, "any_action": [],
}}

req(overrides) := object.union(
	{"agent_id": "a", "action": "read", "segs": ["mcp", "github", "repos"], "n": 3, "arguments": {}, "now_ns": 1772618400000000000},
	overrides,
)

test_resource_tail_needs_a_segment if {
	authz.resource_match(grant({})) with input as req({"segs": ["mcp", "github", "x"], "n": 3})
	not authz.resource_match(grant({})) with input as req({"segs": ["mcp", "github"], "n": 2})
}

test_resource_star_segment if {
	g := grant({"prefix": ["mcp", "*", "read"], "tail": false, "n": 3})
	authz.resource_match(g) with input as req({"segs": ["mcp", "slack", "read"], "n": 3})
	not authz.resource_match(g) with input as req({"segs": ["mcp", "slack", "write"], "n": 3})
}

indexed(by_action, any_action) := {"a": {
	"tenant": "t", "owner": "o", "status": "active", "expires_ns": 0,
	"grants": [grant({})], "by_action": by_action, "any_action": any_action,
}}

test_only_grants_indexed_for_the_action_are_considered if {
	authz.decision.code == "NO_PERMISSION" with data.kavach.agents as indexed({"write": [0]}, []) with input as req({})
	authz.decision.code == "ALLOWED" with data.kavach.agents as indexed({}, [0]) with input as req({"action": "delete"})
}

test_ip_every_allowlist_must_hold if {
	g := grant({"ip": [["10.0.0.0/8"], ["10.1.0.0/16"]]})
	authz.ip_ok(g) with input as req({"ip": "10.1.2.3"})
	not authz.ip_ok(g) with input as req({"ip": "10.2.0.1"})
	not authz.ip_ok(g) with input as req({})
}

test_agent_codes if {
	authz.decision.code == "AGENT_NOT_FOUND" with data.kavach.agents as {} with input as req({})
	revoked := {"a": object.union(agents([])["a"], {"status": "revoked"})}
	authz.decision.code == "AGENT_REVOKED" with data.kavach.agents as revoked with input as req({})
	expired := {"a": object.union(agents([])["a"], {"expires_ns": 1})}
	authz.decision.code == "AGENT_EXPIRED" with data.kavach.agents as expired with input as req({})
}

test_no_permission if {
	authz.decision.code == "NO_PERMISSION" with data.kavach.agents as agents([]) with input as req({})
}

test_candidates_carry_obligations if {
	rate := [{"key": "a/g", "max": 1, "window_ns": 1000000000}]
	g := grant({"rate": rate, "approval": {"ttl_ns": 0, "approvers": ["x"]}, "via": ["dlg_1"]})
	d := authz.decision with data.kavach.agents as agents([g]) with input as req({})
	d.code == "ALLOWED"
	d.candidates == [{"id": "g", "rate": rate, "approval": {"ttl_ns": 0, "approvers": ["x"]}, "via": ["dlg_1"]}]
}

test_argument_patterns_are_anchored_by_the_compiler if {
	g := grant({"args": [{"name": "b", "re": "^(?:dev)$"}]})
	authz.args_ok(g) with input as req({"arguments": {"b": "dev"}})
	not authz.args_ok(g) with input as req({"arguments": {"b": "dev2"}})
	not authz.args_ok(g) with input as req({"arguments": {"b": ["dev"]}})
}

test_overnight_window_belongs_to_its_start_day if {
	w := {"start": 1320, "end": 360, "overnight": true, "tz": "UTC", "days": {"Friday": true}, "all_days": false}
	# Saturday 2026-03-28 01:00 UTC: after midnight of a Friday window.
	authz.in_window(w) with input as req({"now_ns": time.parse_rfc3339_ns("2026-03-28T01:00:00Z")})
	# Friday 2026-03-27 01:00 UTC: after midnight of a Thursday, not in the window.
	not authz.in_window(w) with input as req({"now_ns": time.parse_rfc3339_ns("2026-03-27T01:00:00Z")})
}

test_custom_deny_overrides_allow if {
	d := authz.decision with data.kavach.agents as agents([grant({})])
		with data.kavach.custom.deny as [{"code": "POLICY_DENIED", "reason": "frozen"}]
		with input as req({})
	d.code == "POLICY_DENIED"
	d.deny == [{"code": "POLICY_DENIED", "reason": "frozen"}]
}
