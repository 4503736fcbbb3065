# Kavach's decision: may this agent perform this action on this resource, now, from here,
# with these arguments?
#
# Input (built by the engine):
#   agent_id   the agent's id
#   action     the action name
#   resource   the resource, e.g. "mcp:github:repos:42"
#   segs, n    the resource split on ":" and the number of segments, for custom rules:
#              present only in the input of a revision that has custom rules
#   arguments  the call's top-level arguments (an object, possibly empty)
#   ip         the client address, absent when unknown
#   now_ns     the time of the call in nanoseconds since the Unix epoch
#   long_args  {name: true} for each string argument longer than the longest value matched
#              against a pattern (4096 bytes); absent when there is none
#
# Data, compiled by the engine from agents, their permissions and delegated grants (see
# engine/compile.go) and served on demand, one agent at a time:
#   data.kavach.agents[id]          tenant, owner, status, expires_ns
#   data.kavach.grants[id][action]  the grants for that action, in grant order
# Everything is precomputed so that this policy only compares: minutes instead of "HH:MM",
# nanoseconds instead of timestamps, resource patterns as anchored regular expressions.
#
# Rego stays pure. The decision lists the grants that passed every stateless check
# ("candidates") together with their obligations (rate limits to charge, approval gates);
# the engine carries those out atomically and reports RATE_LIMITED or APPROVAL_* itself.
package kavach.authz

import rego.v1

agent := data.kavach.agents[input.agent_id]

decision := {"code": "AGENT_NOT_FOUND"} if {
	not agent
} else := {"code": "AGENT_REVOKED", "agent": agent} if {
	agent.status != "active"
} else := {"code": "AGENT_EXPIRED", "agent": agent} if {
	agent.expires_ns > 0
	input.now_ns >= agent.expires_ns
} else := {"code": "POLICY_DENIED", "agent": agent, "deny": denies} if {
	count(data.kavach.custom.deny) > 0
} else := {"code": "ALLOWED", "agent": agent, "candidates": candidates, "custom_approval": custom_approval} if {
	count(candidates) > 0
	count(data.kavach.custom.require_approval) > 0
} else := {"code": "ALLOWED", "agent": agent, "candidates": candidates} if {
	count(candidates) > 0
} else := {"code": failure_code, "agent": agent}

# Custom rules (package kavach.custom) may deny any call ("deny"); a deny overrides any
# allow. They may also put an allowed call behind a human approval ("require_approval"):
# every candidate without an approval gate of its own then gets one. Either may be a set,
# an array or an object of reasons; a rule of any other kind does not compile. They are
# listed only when there is something to list: most calls meet no custom rule.
denies := [d | some d in data.kavach.custom.deny]

custom_approval := [r | some r in data.kavach.custom.require_approval]

# The grants for the call's action: those naming it and those for any action ("*"), in
# grant order.
grants := g if {
	g := data.kavach.grants[input.agent_id][input.action]
} else := g if {
	g := data.kavach.grants[input.agent_id]["*"]
} else := []

# Grants that cover the call and pass every stateless constraint, in grant order. Each
# carries what remains to be done: its rate limits and approval gate.
candidates := [g |
	some g in grants
	regex.match(g.re, input.resource) # resource_match(g), inlined: this runs on every call
	not chain_expired(g)
	not failed(g)
]

# Grants whose resource pattern covers the call and whose chain has not ended.
matching := [g |
	some g in grants
	resource_match(g)
	not chain_expired(g)
]

# The first constraint a grant fails, in DESIGN order: IP, time window, arguments. Each
# entry of g.ip is one allowlist and each entry of g.windows one set of windows (a delegated
# grant carries its parents' too): all must hold. A grant without constraints has empty
# lists, and costs nothing here.
failed(g) := "IP_NOT_ALLOWED" if {
	some allowlist in g.ip
	not in_allowlist(allowlist)
} else := "OUTSIDE_TIME_WINDOW" if {
	some windows in g.windows
	not in_windows(windows)
} else := "ARGUMENT_NOT_ALLOWED" if {
	some a in g.args
	not arg_ok(a)
}

# The code of the grant that got furthest, or NO_PERMISSION when none matched.
rank := {"IP_NOT_ALLOWED": 1, "OUTSIDE_TIME_WINDOW": 2, "ARGUMENT_NOT_ALLOWED": 3}

failure_code := "NO_PERMISSION" if {
	count(matching) == 0
} else := code if {
	best := max([rank[failed(g)] | some g in matching])
	some code, r in rank
	r == best
}

# Resource patterns are anchored regular expressions ("*" as a segment matches exactly one
# segment, a trailing "*" one or more). The compiled regexes are cached across decisions.
resource_match(g) if regex.match(g.re, input.resource)

# A delegated grant ends when anything up its chain expires: the delegation, a parent
# grant, or a parent agent.
chain_expired(g) if {
	g.expires_ns > 0
	input.now_ns >= g.expires_ns
}

# An unknown address is in no allowlist.
in_allowlist(cidrs) if {
	some cidr in cidrs
	net.cidr_contains(cidr, input.ip)
}

# A set of windows is the spans of the local week it covers, by time zone, in minutes from
# Sunday 00:00.
in_windows(windows) if {
	some tz, spans in windows
	m := minute_of_week(tz)
	some span in spans
	m >= span[0]
	m < span[1]
}

# Functions are memoised within one decision: each zone's clock is read once.
minute_of_week(tz) := ((day_number[time.weekday([input.now_ns, tz])] * 24 + h) * 60) + m if {
	[h, m, _] := time.clock([input.now_ns, tz])
}

day_number := {"Sunday": 0, "Monday": 1, "Tuesday": 2, "Wednesday": 3, "Thursday": 4, "Friday": 5, "Saturday": 6}

# Argument patterns are anchored regular expressions on top-level string arguments; a
# missing or non-string argument fails, and so does one too long to be matched (the cost of a
# match grows with the value's length, so such a value is never matched).
arg_ok(a) if {
	v := input.arguments[a.name]
	is_string(v)
	not input.long_args[a.name]
	regex.match(a.re, v)
}
