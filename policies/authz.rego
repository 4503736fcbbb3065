# Kavach's decision: may this agent perform this action on this resource, now, from here,
# with these arguments?
#
# Input (built by the engine):
#   agent_id   the agent's id
#   action     the action name
#   segs, n    the resource split on ":" and the number of segments
#   arguments  the call's top-level arguments (an object, possibly empty)
#   ip         the client address, absent when unknown
#   now_ns     the time of the call in nanoseconds since the Unix epoch
#
# Data: data.kavach.agents[id], compiled by the engine from agents, their permissions and
# delegated grants (see engine/compile.go). Everything is precomputed so that this policy
# only compares: minutes instead of "HH:MM", nanoseconds instead of timestamps, resource
# patterns already split into segments.
#
# Rego stays pure. The decision lists the grants that passed every stateless check
# ("candidates") together with their obligations (rate limits to charge, approval gates);
# the engine carries those out atomically and reports RATE_LIMITED or APPROVAL_* itself.
package kavach.authz

import rego.v1

agent := data.kavach.agents[input.agent_id]

decision := {"code": "AGENT_NOT_FOUND"} if {
	not agent
} else := {"code": "AGENT_REVOKED", "agent": who} if {
	agent.status != "active"
} else := {"code": "AGENT_EXPIRED", "agent": who} if {
	agent.expires_ns > 0
	input.now_ns >= agent.expires_ns
} else := {"code": "POLICY_DENIED", "agent": who, "deny": denies} if {
	count(denies) > 0
} else := {"code": "ALLOWED", "agent": who, "candidates": candidates} if {
	count(candidates) > 0
} else := {"code": failure_code, "agent": who}

who := {"tenant": agent.tenant, "owner": agent.owner}

# Custom rules (package kavach.custom) may deny any call; a deny overrides any allow.
denies := [d | some d in data.kavach.custom.deny]

# Custom rules may also put a call behind a human approval.
custom_approval := [r | some r in data.kavach.custom.require_approval]

# Grants whose resource pattern and actions cover the call, in grant order. The compiled
# agent indexes its grants by action, so only grants for this action are looked at.
matching := [g |
	some i in grant_indices
	g := agent.grants[i]
	resource_match(g)
	not chain_expired(g)
]

grant_indices contains i if some i in agent.by_action[input.action]

grant_indices contains i if some i in agent.any_action

# Grants that also pass every stateless constraint, with what remains to be done.
candidates := [c |
	some g in matching
	not failed(g)
	c := {
		"id": g.id,
		"rate": g.rate,
		"approval": approval_gate(g),
		"via": g.via,
	}
]

approval_gate(g) := g.approval if {
	g.approval != null
} else := {"ttl_ns": 0, "approvers": [], "custom": custom_approval} if {
	count(custom_approval) > 0
} else := null

# The first constraint a grant fails, in DESIGN order: IP, time window, arguments.
failed(g) := "IP_NOT_ALLOWED" if {
	not ip_ok(g)
} else := "OUTSIDE_TIME_WINDOW" if {
	not time_ok(g)
} else := "ARGUMENT_NOT_ALLOWED" if {
	not args_ok(g)
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

# Resource patterns: "prefix" holds the segments before a trailing "*" (or all of them);
# "*" as a segment matches exactly one segment; a trailing "*" one or more.
resource_match(g) if {
	g.tail
	input.n > g.n
	every i, s in g.prefix {
		seg_ok(s, input.segs[i])
	}
}

resource_match(g) if {
	not g.tail
	input.n == g.n
	every i, s in g.prefix {
		seg_ok(s, input.segs[i])
	}
}

# A delegated grant ends when anything up its chain expires: the delegation, a parent
# grant, or a parent agent.
chain_expired(g) if {
	g.expires_ns > 0
	input.now_ns >= g.expires_ns
}

seg_ok(s, _) if s == "*"

seg_ok(s, r) if s == r

# Each entry of g.ip is one allowlist (a delegated grant carries its parents' too); the
# address must be in every one. An unknown address is in none.
ip_ok(g) if {
	every allowlist in g.ip {
		some cidr in allowlist
		net.cidr_contains(cidr, input.ip)
	}
}

# Each entry of g.windows is one set of windows; some window of every set must hold.
time_ok(g) if {
	every windows in g.windows {
		some w in windows
		in_window(w)
	}
}

in_window(w) if {
	not w.overnight
	m := minute_of_day(w.tz)
	m >= w.start
	m < w.end
	day_ok(w, time.weekday([input.now_ns, w.tz]))
}

# Overnight windows (end before start): the part before midnight belongs to today...
in_window(w) if {
	w.overnight
	minute_of_day(w.tz) >= w.start
	day_ok(w, time.weekday([input.now_ns, w.tz]))
}

# ...and the part after midnight to the day the window started on.
in_window(w) if {
	w.overnight
	minute_of_day(w.tz) < w.end
	day_ok(w, previous_day[time.weekday([input.now_ns, w.tz])])
}

minute_of_day(tz) := (h * 60) + m if {
	[h, m, _] := time.clock([input.now_ns, tz])
}

day_ok(w, _) if w.all_days

day_ok(w, day) if w.days[day]

previous_day := {
	"Monday": "Sunday", "Tuesday": "Monday", "Wednesday": "Tuesday", "Thursday": "Wednesday",
	"Friday": "Thursday", "Saturday": "Friday", "Sunday": "Saturday",
}

# Argument patterns are anchored regular expressions on top-level string arguments; a
# missing or non-string argument fails.
args_ok(g) if {
	every a in g.args {
		v := input.arguments[a.name]
		is_string(v)
		regex.match(a.re, v)
	}
}
