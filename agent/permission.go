package agent

import (
	"slices"
	"strings"
)

// Permission lets an agent perform actions on resources matching a pattern, under optional
// constraints. Its ID is stable across updates that keep its resource and actions.
type Permission struct {
	ID          string       `json:"id"`
	Resource    string       `json:"resource"`
	Actions     []string     `json:"actions"`
	Constraints *Constraints `json:"constraints,omitempty"`
}

// Constraints narrow a permission. All that are set must hold.
type Constraints struct {
	RateLimit        *RateLimit        `json:"rateLimit,omitempty"`
	TimeWindows      []TimeWindow      `json:"timeWindows,omitempty"`
	IPAllowlist      []string          `json:"ipAllowlist,omitempty"`
	ArgumentPatterns map[string]string `json:"argumentPatterns,omitempty"`
	Approval         *Approval         `json:"approval,omitempty"`
}

// RateLimit admits at most Max calls in any rolling Window.
type RateLimit struct {
	Max    int      `json:"max"`
	Window Duration `json:"window"`
}

// TimeWindow is a daily window [Start, End) in a time zone, optionally on some days only.
// End before Start is an overnight window whose after-midnight part belongs to the day it
// started on.
type TimeWindow struct {
	Days     []string `json:"days,omitempty"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Timezone string   `json:"timezone"`
}

// Approval gates a permission behind a human decision.
type Approval struct {
	Required  bool     `json:"required"`
	TTL       Duration `json:"ttl,omitempty"`
	Approvers []string `json:"approvers,omitempty"`
}

// Key identifies a permission by what it grants: its resource and its set of actions. Two
// permissions with the same key are the same grant, whatever their constraints.
func (p Permission) Key() string {
	acts := slices.Clone(p.Actions)
	slices.Sort(acts)
	return p.Resource + "\x00" + strings.Join(acts, "\x00")
}

// Clone returns a deep copy.
func (p Permission) Clone() Permission {
	c := p
	c.Actions = slices.Clone(p.Actions)
	if p.Constraints != nil {
		cc := *p.Constraints
		if cc.RateLimit != nil {
			rl := *cc.RateLimit
			cc.RateLimit = &rl
		}
		if cc.Approval != nil {
			ap := *cc.Approval
			ap.Approvers = slices.Clone(ap.Approvers)
			cc.Approval = &ap
		}
		cc.TimeWindows = make([]TimeWindow, len(p.Constraints.TimeWindows))
		for i, w := range p.Constraints.TimeWindows {
			w.Days = slices.Clone(w.Days)
			cc.TimeWindows[i] = w
		}
		if len(cc.TimeWindows) == 0 {
			cc.TimeWindows = nil
		}
		cc.IPAllowlist = slices.Clone(cc.IPAllowlist)
		if cc.ArgumentPatterns != nil {
			m := make(map[string]string, len(cc.ArgumentPatterns))
			for k, v := range cc.ArgumentPatterns {
				m[k] = v
			}
			cc.ArgumentPatterns = m
		}
		c.Constraints = &cc
	}
	return c
}

// AssignPermissionIDs gives every permission in next an ID. A permission that names an ID
// keeps it (the caller checks it is one of prev's); one that does not takes the ID of the
// permission in prev with the same resource and actions, or a new one. Updates that keep a
// grant therefore keep its ID, and the rate-limit and approval state keyed by it.
func AssignPermissionIDs(prev, next []Permission) {
	byKey := make(map[string]string, len(prev))
	for _, p := range prev {
		byKey[p.Key()] = p.ID
	}
	used := make(map[string]bool, len(next))
	for _, p := range next {
		if p.ID != "" {
			used[p.ID] = true
		}
	}
	for i := range next {
		if next[i].ID != "" {
			continue
		}
		if id, ok := byKey[next[i].Key()]; ok && !used[id] {
			next[i].ID = id
			used[id] = true
			continue
		}
		next[i].ID = NewID(PrefixPermission)
	}
}
