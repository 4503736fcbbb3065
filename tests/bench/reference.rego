# A reference policy for the comparison with the OPA server (tests/bench/compare.sh): the
# decision Kavach makes, written as one would for stock OPA, over the agents as the API
# returns them (data.agents[id], see data.json from tests/bench/gendata), with no compiled
# form. Resource patterns are split, times of day parsed and regexes anchored per call.
#
# Input: {agent_id, action, resource, arguments?, ip?}. The call is judged at the current
# time. Answer: {allowed, code, grant?} with Kavach's codes and their precedence: agent
# checks first, then per permission resource+action -> IP -> time window -> arguments, and
# a denial reports the permission that got furthest. The generated agents carry no rate
# limits or approval gates, so neither is modelled here.
package reference

import rego.v1

agent := data.agents[input.agent_id]

now := time.now_ns()

decision := {"allowed": false, "code": "AGENT_NOT_FOUND"} if {
	not agent
} else := {"allowed": false, "code": "AGENT_REVOKED"} if {
	agent.status != "active"
} else := {"allowed": false, "code": "AGENT_EXPIRED"} if {
	now >= time.parse_rfc3339_ns(agent.expiresAt)
} else := {"allowed": true, "code": "ALLOWED", "grant": passing[0]} if {
	count(passing) > 0
} else := {"allowed": false, "code": failure}

# Permissions whose resource pattern and actions cover the call, in order.
matching := [p |
	some p in agent.permissions
	action_ok(p.actions)
	resource_ok(p.resource)
]

passing := [p.id | some p in matching; not failed(p)]

action_ok(actions) if input.action in actions

action_ok(actions) if "*" in actions

segs := split(input.resource, ":")

# A trailing "*" matches one or more segments ("*" alone: everything); "*" elsewhere exactly
# one segment.
resource_ok(pattern) if {
	pat := split(pattern, ":")
	n := count(pat) - 1
	pat[n] == "*"
	count(segs) > n
	every i, s in array.slice(pat, 0, n) {
		segment_ok(s, segs[i])
	}
}

resource_ok(pattern) if {
	pat := split(pattern, ":")
	pat[count(pat) - 1] != "*"
	count(segs) == count(pat)
	every i, s in pat {
		segment_ok(s, segs[i])
	}
}

segment_ok("*", _)

segment_ok(s, r) if s == r

constraint(p, name, empty) := object.get(p, ["constraints", name], empty)

failed(p) := 1 if {
	not ip_ok(p)
} else := 2 if {
	not time_ok(p)
} else := 3 if {
	not args_ok(p)
}

codes := ["NO_PERMISSION", "IP_NOT_ALLOWED", "OUTSIDE_TIME_WINDOW", "ARGUMENT_NOT_ALLOWED"]

failure := codes[max([failed(p) | some p in matching])] if {
	count(matching) > 0
} else := "NO_PERMISSION"

ip_ok(p) if count(constraint(p, "ipAllowlist", [])) == 0

ip_ok(p) if {
	some entry in constraint(p, "ipAllowlist", [])
	ip_in(entry, input.ip)
}

ip_in(entry, ip) if {
	contains(entry, "/")
	net.cidr_contains(entry, ip)
}

# A lone address is a network of one.
ip_in(entry, ip) if {
	not contains(entry, "/")
	net.cidr_contains(concat("/", [entry, host_bits(entry)]), ip)
}

host_bits(addr) := "128" if {
	contains(addr, ":")
} else := "32"

time_ok(p) if count(constraint(p, "timeWindows", [])) == 0

time_ok(p) if {
	some w in constraint(p, "timeWindows", [])
	in_window(w)
}

clock(hhmm) := (to_number(h) * 60) + to_number(m) if [h, m] := split(hhmm, ":")

minute_of_day(tz) := (h * 60) + m if [h, m, _] := time.clock([now, tz])

today(tz) := lower(substring(time.weekday([now, tz]), 0, 3))

previous_day := {"mon": "sun", "tue": "mon", "wed": "tue", "thu": "wed", "fri": "thu", "sat": "fri", "sun": "sat"}

day_ok(w, _) if count(object.get(w, "days", [])) == 0

day_ok(w, day) if day in w.days

in_window(w) if {
	start := clock(w.start)
	end := clock(w.end)
	m := minute_of_day(w.timezone)
	holds(w, start, end, m, today(w.timezone))
}

holds(w, start, end, m, day) if {
	start < end
	m >= start
	m < end
	day_ok(w, day)
}

# Overnight: before midnight the window belongs to today, after it to the day it started.
holds(w, start, end, m, day) if {
	end < start
	m >= start
	day_ok(w, day)
}

holds(w, start, end, m, day) if {
	end < start
	m < end
	day_ok(w, previous_day[day])
}

args_ok(p) if {
	every name, re in constraint(p, "argumentPatterns", {}) {
		is_string(input.arguments[name])
		regex.match(concat("", ["^(?:", re, ")$"]), input.arguments[name])
	}
}
