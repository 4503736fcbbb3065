package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kavachos/kavach-go/agent"
)

// GrantConstraints summarises what a grant's constraints require, as compiled: a delegated
// grant carries one entry per level of its chain in each list, and all must hold.
type GrantConstraints struct {
	IPAllowlist      [][]string           // the address must be in every list (canonical prefixes)
	TimeWindows      [][]agent.TimeWindow // the time must be in some window of every set
	ArgumentPatterns map[string][]string  // argument → patterns (unanchored) it must all match
	RateLimits       []agent.RateLimit    // every limit up the chain is charged
	Approval         *agent.Approval      // the gate, if any level requires approval
}

// summary is g's constraints as GrantConstraints, or nil when it has none.
func (g *grant) summary() *GrantConstraints {
	if len(g.ip) == 0 && len(g.windows) == 0 && len(g.args) == 0 && len(g.rate) == 0 && g.approval == nil {
		return nil
	}
	c := &GrantConstraints{}
	for _, l := range g.ip {
		c.IPAllowlist = append(c.IPAllowlist, slices.Clone(l))
	}
	for _, set := range g.windows {
		ws := make([]agent.TimeWindow, len(set))
		for i, w := range set {
			ws[i] = w.timeWindow()
		}
		c.TimeWindows = append(c.TimeWindows, ws)
	}
	for _, a := range g.args {
		if c.ArgumentPatterns == nil {
			c.ArgumentPatterns = map[string][]string{}
		}
		re := strings.TrimSuffix(strings.TrimPrefix(a.re, "^(?:"), ")$")
		c.ArgumentPatterns[a.name] = append(c.ArgumentPatterns[a.name], re)
	}
	for _, r := range g.rate {
		c.RateLimits = append(c.RateLimits, agent.RateLimit{Max: r.Max, Window: agent.Duration(time.Duration(r.WindowNS))})
	}
	if ap := g.approval; ap != nil {
		c.Approval = &agent.Approval{Required: true, TTL: agent.Duration(time.Duration(ap.TTLNS)), Approvers: slices.Clone(ap.Approvers)}
	}
	return c
}

var weekdayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// timeWindow is w written as a permission writes it.
func (w window) timeWindow() agent.TimeWindow {
	tw := agent.TimeWindow{Start: clock(w.start), End: clock(w.end), Timezone: w.tz}
	if w.days != 0 {
		tw.Days = []string{}
		for d, name := range weekdayNames {
			if w.days&(1<<d) != 0 {
				tw.Days = append(tw.Days, name)
			}
		}
	}
	return tw
}

func clock(minutes int) string { return fmt.Sprintf("%02d:%02d", minutes/60, minutes%60) }
