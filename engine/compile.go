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
//	    "ip":      [["10.0.0.0/8"]],                  // every list must contain the address
//	    "windows": [[{"start": 540, "end": 1020, …}]], // every list must have a window that holds
//	    "args":    [{"name": "branch", "re": "^(?:dev-.*)$"}],
//	    "approval": {"ttl_ns": …, "approvers": […]} | null,
//	    "rate":    [{"key": "agt_…/perm_…", "max": 10, "window_ns": …}],
//	    "via":     ["dlg_…"],                          // delegation ids, root first
//	    "expires_ns": 0                                // a delegated grant ends with its chain
//	  }],
//	  "by_action": {"read": [0, 3]}, "any_action": [5]  // grant indices, for lookup by action
//	}
//
// A delegated grant carries the constraints of every grant above it: the lists under "ip",
// "windows", "args" and "rate" gain one entry per level, and all must hold.

// grant is one effective grant of an agent, before it is rendered as data.
type grant struct {
	id        string
	resource  string
	actions   []string
	ip        []any
	windows   []any
	args      []any
	approval  *approvalGate
	rate      []any
	via       []string
	depth     int   // links from the root: 0 for an agent's own permission
	maxDepth  int   // the smallest maxDepth along the chain; 0 for none
	expiresNS int64 // when the chain ends (0: never); the agent's own expiry is separate
}

// ownGrants are an agent's permissions as grants.
func ownGrants(a *agent.Agent) []grant {
	out := make([]grant, 0, len(a.Permissions))
	for _, p := range a.Permissions {
		g := grant{id: p.ID, resource: p.Resource, actions: p.Actions, ip: []any{}, windows: []any{}, args: []any{}, rate: []any{}}
		g.addConstraints(a.ID, a.OwnerID, p)
		out = append(out, g)
	}
	return out
}

// addConstraints ANDs one permission's constraints into the grant.
func (g *grant) addConstraints(agentID, ownerID string, p agent.Permission) {
	c := p.Constraints
	if c == nil {
		return
	}
	if len(c.IPAllowlist) > 0 {
		list := make([]any, 0, len(c.IPAllowlist))
		for _, s := range c.IPAllowlist {
			if pfx, err := agent.ParseIPOrPrefix(s); err == nil {
				list = append(list, pfx.String())
			}
		}
		g.ip = append(g.ip, list)
	}
	if len(c.TimeWindows) > 0 {
		ws := make([]any, 0, len(c.TimeWindows))
		for _, w := range c.TimeWindows {
			ws = append(ws, compileWindow(w))
		}
		g.windows = append(g.windows, ws)
	}
	for _, name := range slices.Sorted(maps.Keys(c.ArgumentPatterns)) {
		g.args = append(g.args, map[string]any{"name": name, "re": Anchor(c.ArgumentPatterns[name])})
	}
	if ap := c.Approval; ap != nil && ap.Required {
		g.approval = mergeApproval(g.approval, &approvalGate{TTLNS: int64(ap.TTL), Approvers: ap.Approvers, Owner: ownerID})
	}
	if rl := c.RateLimit; rl != nil {
		g.rate = append(g.rate, map[string]any{"key": agentID + "/" + p.ID, "max": rl.Max, "window_ns": int64(rl.Window)})
	}
}

// mergeApproval combines the gate already on a grant (from above in its chain) with one
// added below it. The upper gate keeps its owner and approvers — a delegation cannot add
// approvers who could unlock its parent's gate — and the shorter TTL applies.
func mergeApproval(upper, lower *approvalGate) *approvalGate {
	if upper == nil {
		return lower
	}
	m := *upper
	if lower.TTLNS > 0 && (m.TTLNS == 0 || lower.TTLNS < m.TTLNS) {
		m.TTLNS = lower.TTLNS
	}
	return &m
}

// derive builds the child's grant for delegated permission dp of delegation d through the
// parent grant pg, or reports false if pg does not cover dp or the chain would be too deep.
func derive(pg grant, d *agent.Delegation, dp agent.Permission, parentExpiresNS int64, childOwner string) (grant, bool) {
	if !agent.ContainsPattern(pg.resource, dp.Resource) || !agent.ContainsActions(pg.actions, dp.Actions) {
		return grant{}, false
	}
	limit := d.MaxDepth
	if limit <= 0 {
		limit = agent.DefaultMaxDepth
	}
	if pg.maxDepth > 0 {
		limit = min(limit, pg.maxDepth)
	}
	if pg.depth+1 > limit {
		return grant{}, false
	}
	g := grant{
		id: dp.ID, resource: dp.Resource, actions: dp.Actions,
		ip: slices.Clone(pg.ip), windows: slices.Clone(pg.windows), args: slices.Clone(pg.args),
		approval: pg.approval, rate: slices.Clone(pg.rate), via: append(slices.Clone(pg.via), d.ID),
		depth: pg.depth + 1, maxDepth: limit, expiresNS: Earliest(pg.expiresNS, parentExpiresNS),
	}
	if d.ExpiresAt != nil {
		g.expiresNS = Earliest(g.expiresNS, d.ExpiresAt.UnixNano())
	}
	g.addConstraints(d.ToAgentID, childOwner, dp)
	return g, true
}

// Earliest returns the earlier of two expiries in Unix nanoseconds, where 0 means never.
func Earliest(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// document renders an agent and its effective grants as its OPA data document.
func document(a *agent.Agent, grants []grant) map[string]any {
	var expires int64
	if a.ExpiresAt != nil {
		expires = a.ExpiresAt.UnixNano()
	}
	docs := make([]any, 0, len(grants))
	byAction := map[string]any{}
	anyAction := []any{}
	for i, g := range grants {
		docs = append(docs, g.render())
		for _, act := range g.actions {
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
		"grants":     docs,
		"by_action":  byAction,
		"any_action": anyAction,
	}
}

func (g grant) render() map[string]any {
	prefix, tail := splitPattern(g.resource)
	var approval any
	if g.approval != nil {
		approvers := make([]any, len(g.approval.Approvers))
		for i, s := range g.approval.Approvers {
			approvers[i] = s
		}
		approval = map[string]any{"ttl_ns": g.approval.TTLNS, "approvers": approvers, "owner": g.approval.Owner}
	}
	via := make([]any, len(g.via))
	for i, s := range g.via {
		via[i] = s
	}
	return map[string]any{
		"id":         g.id,
		"prefix":     prefix,
		"tail":       tail,
		"n":          len(prefix),
		"ip":         g.ip,
		"windows":    g.windows,
		"args":       g.args,
		"approval":   approval,
		"rate":       g.rate,
		"via":        via,
		"expires_ns": g.expiresNS,
	}
}

// Compile turns an agent with no delegated grants into its OPA data document.
func Compile(a *agent.Agent) map[string]any {
	return document(a, ownGrants(a))
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
