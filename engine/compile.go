package engine

import (
	"maps"
	"slices"
	"strings"

	"github.com/kavachos/kavach-go/agent"
)

// The compiled form of an agent, stored in OPA at data.kavach.agents[id]. It is shaped for
// the policy's comparisons: no parsing happens per call. Secrets never appear here.
//
//	{
//	  "tenant": "default", "owner": "alice", "status": "active", "expires_ns": 0,
//	  "grants": [{
//	    "id": "perm_…", "prefix": ["mcp", "github"], "tail": true, "n": 2,
//	    "actions": {"read": true}, "any_action": false,
//	    "ip":      [["10.0.0.0/8"]],                  // every list must contain the address
//	    "windows": [[{"start": 540, "end": 1020, …}]], // every list must have a window that holds
//	    "args":    [{"name": "branch", "re": "^(?:dev-.*)$"}],
//	    "approval": {"ttl_ns": …, "approvers": […]} | null,
//	    "rate":    [{"key": "agt_…/perm_…", "max": 10, "window_ns": …}],
//	    "via":     []                                  // delegation ids, root first
//	  }],
//	  "by_action": {"read": [0, 3]}, "any_action": [5]  // grant indices, for lookup by action
//	}

// Compile turns an agent into its OPA data document.
func Compile(a *agent.Agent) map[string]any {
	var expires int64
	if a.ExpiresAt != nil {
		expires = a.ExpiresAt.UnixNano()
	}
	grants := make([]any, 0, len(a.Permissions))
	byAction := map[string]any{}
	anyAction := []any{}
	for i, p := range a.Permissions {
		grants = append(grants, compileGrant(a.ID, p))
		for _, act := range p.Actions {
			if act == "*" {
				anyAction = append(anyAction, i)
				continue
			}
			list, _ := byAction[act].([]any)
			byAction[act] = append(list, i)
		}
	}
	return map[string]any{
		"tenant":     a.TenantID,
		"owner":      a.OwnerID,
		"status":     string(a.Status),
		"expires_ns": expires,
		"grants":     grants,
		"by_action":  byAction,
		"any_action": anyAction,
	}
}

func compileGrant(agentID string, p agent.Permission) map[string]any {
	prefix, tail := splitPattern(p.Resource)
	actions := map[string]any{}
	anyAction := false
	for _, a := range p.Actions {
		if a == "*" {
			anyAction = true
		}
		actions[a] = true
	}
	g := map[string]any{
		"id":         p.ID,
		"prefix":     prefix,
		"tail":       tail,
		"n":          len(prefix),
		"actions":    actions,
		"any_action": anyAction,
		"ip":         []any{},
		"windows":    []any{},
		"args":       []any{},
		"approval":   nil,
		"rate":       []any{},
		"via":        []any{},
	}
	c := p.Constraints
	if c == nil {
		return g
	}
	if len(c.IPAllowlist) > 0 {
		list := make([]any, 0, len(c.IPAllowlist))
		for _, s := range c.IPAllowlist {
			if pfx, err := agent.ParseIPOrPrefix(s); err == nil {
				list = append(list, pfx.String())
			}
		}
		g["ip"] = []any{list}
	}
	if len(c.TimeWindows) > 0 {
		ws := make([]any, 0, len(c.TimeWindows))
		for _, w := range c.TimeWindows {
			ws = append(ws, compileWindow(w))
		}
		g["windows"] = []any{ws}
	}
	if len(c.ArgumentPatterns) > 0 {
		args := make([]any, 0, len(c.ArgumentPatterns))
		for _, name := range slices.Sorted(maps.Keys(c.ArgumentPatterns)) {
			args = append(args, map[string]any{"name": name, "re": Anchor(c.ArgumentPatterns[name])})
		}
		g["args"] = args
	}
	if ap := c.Approval; ap != nil && ap.Required {
		approvers := make([]any, len(ap.Approvers))
		for i, s := range ap.Approvers {
			approvers[i] = s
		}
		g["approval"] = map[string]any{"ttl_ns": int64(ap.TTL), "approvers": approvers}
	}
	if rl := c.RateLimit; rl != nil {
		g["rate"] = []any{map[string]any{"key": agentID + "/" + p.ID, "max": rl.Max, "window_ns": int64(rl.Window)}}
	}
	return g
}

// splitPattern returns a resource pattern's segments before a trailing "*" and whether
// there was one. "*" alone is an empty prefix with a tail: it matches everything.
func splitPattern(pattern string) ([]any, bool) {
	segs := strings.Split(pattern, ":")
	tail := segs[len(segs)-1] == "*"
	if tail {
		segs = segs[:len(segs)-1]
	}
	out := make([]any, len(segs))
	for i, s := range segs {
		out[i] = s
	}
	return out, tail
}

var dayNames = map[string]string{
	"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
	"fri": "Friday", "sat": "Saturday", "sun": "Sunday",
}

func compileWindow(w agent.TimeWindow) map[string]any {
	start, _ := agent.ParseClock(w.Start)
	end, _ := agent.ParseClock(w.End)
	days := map[string]any{}
	for _, d := range w.Days {
		days[dayNames[d]] = true
	}
	return map[string]any{
		"start":     start,
		"end":       end,
		"overnight": end < start,
		"tz":        w.Timezone,
		"days":      days,
		"all_days":  len(w.Days) == 0,
	}
}

// Anchor makes a pattern match whole values only.
func Anchor(re string) string { return "^(?:" + re + ")$" }
