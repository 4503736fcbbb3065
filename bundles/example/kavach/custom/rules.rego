# Example custom rules, shipped as a bundle. They run beside Kavach's own decision and can
# only take away: a deny here overrides any allow.
#
# The rules see the same input as the decision (agent_id, action, resource, segs, n,
# arguments, ip, now_ns), the agent at data.kavach.agents[agent_id] and its grants for the
# action at data.kavach.grants[agent_id][action], which carry their delegation chain ("via").
package kavach.custom

import rego.v1

# No writes to production resources on Fridays (in the configured time zone).
deny contains {"code": "POLICY_DENIED", "reason": "no writes to production on Fridays"} if {
	input.action in data.kavach.custom.write_actions
	"prod" in input.segs
	time.weekday([input.now_ns, data.kavach.custom.timezone]) == "Friday"
}

# Tools may only be pointed at URLs on allowlisted hosts.
deny contains {"code": "ARGUMENT_NOT_ALLOWED", "reason": sprintf("argument %q points at %s, which is not allowlisted", [name, host])} if {
	some name, value in input.arguments
	is_string(value)
	some url in regex.find_n(`https?://[^\s"'<>]+`, value, -1)
	host := url_host(url)
	not host in data.kavach.custom.url_allowlist
}

url_host(url) := lower(host) if {
	rest := regex.replace(url, `^https?://`, "")
	host := regex.replace(rest, `[:/?#].*$`, "")
}

# Transfers above the limit need a human, whatever the agent's permissions say.
require_approval contains {"reason": "large transfer"} if {
	input.action == "transfer"
	input.arguments.amount > data.kavach.custom.approval_amount
}
