package engine

import (
	"maps"
	"unique"

	"github.com/open-policy-agent/opa/v1/ast"
	"slices"

	"github.com/kavachos/kavach-go/agent"
)

// The compiled form of an agent, served to the policy on demand (see agentdata.go). Secrets
// never appear here. It is shaped for the policy's comparisons: no parsing happens per call.
//
//	data.kavach.agents[id] = {"tenant": "default", "owner": "alice", "status": "active", "expires_ns": 0}
//	data.kavach.grants[id][action] = [{            // the grants naming the action, then those for "*", in order
//	    "id": "perm_…",
//	    "re": "^mcp:github:.+$",                      // the resource pattern
//	    "ip":      [["10.0.0.0/8"]],                  // every list must contain the address
//	    "windows": [{"Europe/Berlin": [[480, 1320]]}], // every set must cover the minute of the week
//	    "args":    [{"name": "branch", "re": "^(?:dev-.*)$"}],
//	    "approval": {"ttl_ns": …, "approvers": […], "owner": …},
//	    "rate":    [{"key": "agt_…/perm_…", "max": 10, "window_ns": …}],
//	    "via":     ["dlg_…"],                          // delegation ids, root first
//	    "expires_ns": …                                // a delegated grant ends with its chain
//	}]
//
// Only "id" and "re" are always present; a grant has the other fields only when it has the
// constraint or obligation. A delegated grant carries the constraints of every grant above
// it: the lists under "ip", "windows", "args" and "rate" gain one entry per level, and all
// must hold.

// grant is one effective grant of an agent, before it is compiled.
type grant struct {
	id        string
	resource  string
	actions   []string
	ip        [][]string // allowlists of canonical prefixes
	windows   [][]window
	args      []argPattern
	approval  *approvalGate
	rate      []rateLimit
	via       []string
	depth     int   // links from the root: 0 for an agent's own permission
	maxDepth  int   // the smallest maxDepth along the chain; 0 for none
	expiresNS int64 // when the chain ends (0: never); the agent's own expiry is separate
}

// window is a time window in minutes of the day; days is a bit set of weekdays (bit 0 is
// Sunday), 0 for every day.
type window struct {
	start, end int
	tz         string
	days       uint8
}

type argPattern struct{ name, re string }

// ownGrants are an agent's permissions as grants.
func ownGrants(a *agent.Agent) []grant {
	out := make([]grant, 0, len(a.Permissions))
	for _, p := range a.Permissions {
		g := grant{id: p.ID, resource: p.Resource, actions: p.Actions}
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
		list := make([]string, 0, len(c.IPAllowlist))
		for _, s := range c.IPAllowlist {
			if pfx, err := agent.ParseIPOrPrefix(s); err == nil {
				list = append(list, pfx.String())
			}
		}
		g.ip = append(g.ip, list)
	}
	if len(c.TimeWindows) > 0 {
		ws := make([]window, 0, len(c.TimeWindows))
		for _, w := range c.TimeWindows {
			ws = append(ws, compileWindow(w))
		}
		g.windows = append(g.windows, ws)
	}
	for _, name := range slices.Sorted(maps.Keys(c.ArgumentPatterns)) {
		g.args = append(g.args, argPattern{name: name, re: Anchor(c.ArgumentPatterns[name])})
	}
	if ap := c.Approval; ap != nil && ap.Required {
		g.approval = mergeApproval(g.approval, &approvalGate{TTLNS: int64(ap.TTL), Approvers: ap.Approvers, Owner: ownerID})
	}
	if rl := c.RateLimit; rl != nil {
		g.rate = append(g.rate, rateLimit{Key: agentID + "/" + p.ID, Max: rl.Max, WindowNS: int64(rl.Window)})
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

// compile makes an agent's published form from its effective grants.
func compile(a *agent.Agent, grants []grant, sh *shapes) *compiledAgent {
	c := newCompiled(a, len(grants))
	for i := range grants {
		g := &grants[i]
		c.grants[i] = compiledGrant{id: g.id, shape: sh.of(g.shapeKey(), g), more: newObligations(g.approval, g.rate, g.via), expiresNS: g.expiresNS}
	}
	return c
}

// compileOwn is compile(a, ownGrants(a), sh) for an agent with no delegated grants — most
// agents, and every agent of a full load before delegations are applied. It looks shapes up
// by the permission as stored, and canonicalises a permission's constraints only the first
// time its shape is seen.
func compileOwn(a *agent.Agent, sh *shapes) *compiledAgent {
	c := newCompiled(a, len(a.Permissions))
	var key [256]byte
	for i, p := range a.Permissions {
		k := permissionKey(key[:0], p)
		s := sh.lookup(k)
		if s == nil {
			g := grant{id: p.ID, resource: p.Resource, actions: p.Actions}
			g.addConstraints(a.ID, a.OwnerID, p)
			s = sh.of(string(k), &g)
		}
		cg := compiledGrant{id: p.ID, shape: s}
		if pc := p.Constraints; pc != nil {
			var (
				rate     []rateLimit
				approval *approvalGate
			)
			if rl := pc.RateLimit; rl != nil {
				rate = []rateLimit{{Key: a.ID + "/" + p.ID, Max: rl.Max, WindowNS: int64(rl.Window)}}
			}
			if ap := pc.Approval; ap != nil && ap.Required {
				approval = &approvalGate{TTLNS: int64(ap.TTL), Approvers: ap.Approvers, Owner: a.OwnerID}
			}
			cg.more = newObligations(approval, rate, nil)
		}
		c.grants[i] = cg
	}
	return c
}

func newCompiled(a *agent.Agent, grants int) *compiledAgent {
	c := &compiledAgent{tenant: intern(a.TenantID), owner: intern(a.OwnerID), status: intern(string(a.Status)), grants: make([]compiledGrant, grants)}
	if a.ExpiresAt != nil {
		c.expiresNS = a.ExpiresAt.UnixNano()
	}
	return c
}

// intern shares the memory of strings many agents hold: tenants, owners, statuses.
func intern(s string) string { return unique.Make(s).Value() }

// Compile returns the documents the policy reads for an agent with no delegated grants:
// data.kavach.agents[id] and data.kavach.grants[id].
func Compile(a *agent.Agent) (agentDoc, grantsDoc map[string]any) {
	c := compileOwn(a, newShapes())
	var err error
	if agentDoc, err = asMap(c.header()); err == nil {
		grantsDoc, err = asMap(c.grantsDoc())
	}
	if err != nil {
		panic(err) // the engine built these values itself
	}
	return agentDoc, grantsDoc
}

func asMap(v ast.Value) (map[string]any, error) {
	x, err := ast.JSON(v)
	if err != nil {
		return nil, err
	}
	m, _ := x.(map[string]any)
	return m, nil
}

var weekdayBits = map[string]uint8{"sun": 1, "mon": 2, "tue": 4, "wed": 8, "thu": 16, "fri": 32, "sat": 64}

// noDay is a day set holding no weekday, unlike 0, which means every day.
const noDay uint8 = 1 << 7

func compileWindow(w agent.TimeWindow) window {
	start, _ := agent.ParseClock(w.Start)
	end, _ := agent.ParseClock(w.End)
	var days uint8
	for _, d := range w.Days {
		days |= weekdayBits[d]
	}
	if len(w.Days) > 0 && days == 0 {
		days = noDay // days named, none known: the window never holds (validation refuses this)
	}
	return window{start: start, end: end, tz: w.Timezone, days: days}
}

// minutesPerWeek: window spans are minutes of the local week, from Sunday 00:00.
const minutesPerWeek = 7 * 24 * 60

// windowSetTerm renders one set of windows — some window of it must hold — as the spans
// of the local week they cover, by time zone: {"Europe/Berlin": [[lo, hi], …]}, merged and
// sorted, so the policy makes one comparison per span instead of evaluating clocks and
// weekdays per window. A window past midnight belongs to the day it starts on.
func windowSetTerm(set []window) *ast.Term {
	byTZ := map[string][][2]int{}
	var zones []string
	for _, w := range set {
		if _, ok := byTZ[w.tz]; !ok {
			zones = append(zones, w.tz)
		}
		byTZ[w.tz] = append(byTZ[w.tz], w.spans()...)
	}
	obj := ast.NewObject()
	for _, tz := range zones {
		merged := mergeSpans(byTZ[tz])
		terms := make([]*ast.Term, len(merged))
		for i, sp := range merged {
			terms[i] = ast.ArrayTerm(ast.InternedTerm(sp[0]), ast.InternedTerm(sp[1]))
		}
		obj.Insert(ast.StringTerm(tz), ast.ArrayTerm(terms...))
	}
	return ast.NewTerm(obj)
}

// spans returns the minutes of the week a window covers, as half-open [lo, hi) spans.
func (w window) spans() [][2]int {
	var out [][2]int
	for d := range 7 {
		if w.days != 0 && w.days&(1<<d) == 0 {
			continue
		}
		lo, hi := d*1440+w.start, d*1440+w.end
		if w.end < w.start { // overnight: ends the next day
			hi += 1440
		}
		if hi > minutesPerWeek { // Saturday night runs into Sunday morning
			out = append(out, [2]int{0, hi - minutesPerWeek})
			hi = minutesPerWeek
		}
		out = append(out, [2]int{lo, hi})
	}
	return out
}

func mergeSpans(spans [][2]int) [][2]int {
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var out [][2]int
	for _, sp := range spans {
		if n := len(out); n > 0 && sp[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], sp[1])
			continue
		}
		out = append(out, sp)
	}
	return out
}

// Anchor makes a pattern match whole values only.
func Anchor(re string) string { return "^(?:" + re + ")$" }
