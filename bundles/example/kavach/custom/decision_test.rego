# Tests of these custom rules together with Kavach's decision: they travel with the bundle,
# and run with `kavach policy test bundles/example` (or `opa test EXPORTED bundles/example`
# against the policies `kavach policy export EXPORTED` writes).
package kavach.custom_test

import rego.v1

import data.kavach.authz

agents := {"a": {"tenant": "t", "owner": "o", "status": "active", "expires_ns": 0}}

# The agent "a" may do anything.
grants := {"a": {"*": [{
	"id": "g", "re": "^.+$", "ip": [], "windows": [], "args": [],
	"approval": null, "rate": [], "via": [], "expires_ns": 0,
}]}}

call(action, resource, args, at) := {
	"agent_id": "a", "action": action, "resource": resource,
	"segs": split(resource, ":"), "n": count(split(resource, ":")),
	"arguments": args, "now_ns": time.parse_rfc3339_ns(at),
}

test_custom_deny_overrides_an_allow if {
	d := authz.decision with data.kavach.agents as agents with data.kavach.grants as grants
		with input as call("push", "mcp:prod:repo", {}, "2026-03-06T10:00:00+01:00")
	d.code == "POLICY_DENIED"
	{x.reason | some x in d.deny} == {"no writes to production on Fridays"}
}

test_allowed_when_no_custom_rule_objects if {
	d := authz.decision with data.kavach.agents as agents with data.kavach.grants as grants
		with input as call("push", "mcp:prod:repo", {}, "2026-03-05T10:00:00+01:00")
	d.code == "ALLOWED"
}

test_custom_rule_may_name_a_known_code if {
	d := authz.decision with data.kavach.agents as agents with data.kavach.grants as grants
		with input as call("call", "mcp:web:fetch", {"url": "http://169.254.169.254/latest"}, "2026-03-05T10:00:00+01:00")
	{x.code | some x in d.deny} == {"ARGUMENT_NOT_ALLOWED"}
}

test_custom_approval_gates_an_allowed_call if {
	d := authz.decision with data.kavach.agents as agents with data.kavach.grants as grants
		with input as call("transfer", "bank:acct:1", {"amount": 5000}, "2026-03-05T10:00:00+01:00")
	d.code == "ALLOWED"
	d.candidates[0].approval == null
	{r.reason | some r in d.custom_approval} == {"large transfer"}
}
