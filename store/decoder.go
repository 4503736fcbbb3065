package store

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kavachos/kavach-go/agent"
)

// AgentDecoder decodes stored agent documents. It reads the JSON that EncodeAgentDocs
// writes, and Postgres's rendering of it as jsonb, straight into agents, with a fraction of
// encoding/json's time and allocations; any other document it hands to encoding/json, so
// every document decodes as json.Unmarshal decodes it. A decoder from NewAgentDecoder also
// keeps one copy of each string that repeats from agent to agent (tenants, owners,
// resources, actions, time zones, CIDRs, patterns), which is what a walk over every agent
// wants; the zero AgentDecoder copies every string. An AgentDecoder is not safe for
// concurrent use.
type AgentDecoder struct {
	interned map[string]string
	// Scratch space, reused from document to document. A document's permissions,
	// constraints, time windows and lists of strings are gathered here, with the spans
	// that say which list belongs where, then copied into one slice of each kind.
	perms       []agent.Permission
	permActions []span
	permCons    []int32 // index in cons, or -1
	cons        []agent.Constraints
	consWindows []span
	consIPs     []span
	windows     []agent.TimeWindow
	windowDays  []span
	strs        []string
	pairs       []string
	// The strings interned for the previous document, in order, and how many were
	// interned for this one so far.
	previous []string
	seq      int
}

// span is a range of scratch elements; a null list has start -1.
type span struct{ start, end int32 }

var null = span{-1, -1}

// slice returns the part of all that s covers, capped so that appending to it copies.
func slice[T any](all []T, s span) []T {
	if s.start < 0 {
		return nil
	}
	return all[s.start:s.end:s.end]
}

// maxPrevious bounds how many of the previous document's strings a decoder remembers.
const maxPrevious = 1024

// maxInterned bounds the strings a decoder keeps, so that strings that never repeat cost
// no more than copying them.
const maxInterned = 1 << 16

// NewAgentDecoder returns a decoder that interns repeated strings.
func NewAgentDecoder() *AgentDecoder {
	return &AgentDecoder{interned: make(map[string]string, 256)}
}

// Intern returns the decoder's copy of s, keeping s as that copy if it has none yet and
// there is room. s must not point into a buffer that will be reused.
func (d *AgentDecoder) Intern(s string) string {
	if v, ok := d.interned[s]; ok {
		return v
	}
	if d.interned != nil && len(d.interned) < maxInterned {
		d.interned[s] = s
	}
	return s
}

// intern is Intern for a string that may point into a document: a string not kept yet is
// copied, so that what is decoded never holds on to the document. It first compares s
// with the string interned at the same place in the previous document: agents made from
// one template repeat their strings in the same order, and a comparison is cheaper than a
// lookup.
func (d *AgentDecoder) intern(s string) string {
	if d.interned == nil {
		return strings.Clone(s)
	}
	k := d.seq
	d.seq++
	if k < len(d.previous) && d.previous[k] == s {
		return d.previous[k]
	}
	v, ok := d.interned[s]
	if !ok {
		v = d.Intern(strings.Clone(s))
	}
	if k < len(d.previous) {
		d.previous[k] = v
	} else if k < maxPrevious {
		d.previous = append(d.previous, v)
	}
	return v
}

// DecodeAgentDocs fills an agent's permissions and metadata from their JSON form.
func (d *AgentDecoder) DecodeAgentDocs(a *agent.Agent, docs AgentDocs) error {
	if err := d.DecodePermissions(docs.Permissions, &a.Permissions); err != nil {
		return fmt.Errorf("decode permissions of %s: %w", a.ID, err)
	}
	if err := d.decodeMetadata(docs.Metadata, &a.Metadata); err != nil {
		return fmt.Errorf("decode metadata of %s: %w", a.ID, err)
	}
	if len(a.Metadata) == 0 {
		a.Metadata = nil
	}
	return nil
}

// DecodePermissions unmarshals permissions encoded by EncodePermissions.
func (d *AgentDecoder) DecodePermissions(doc string, perms *[]agent.Permission) error {
	if *perms == nil {
		p := parser{s: doc, d: d}
		if v, ok := p.permissions(); ok && p.end() {
			*perms = v
			return nil
		}
	}
	return json.Unmarshal([]byte(doc), perms)
}

func (d *AgentDecoder) decodeMetadata(doc string, m *map[string]string) error {
	if *m == nil {
		if doc == "{}" {
			return nil
		}
		p := parser{s: doc, d: d}
		var v map[string]string
		if p.stringMap(&v, false) && p.end() {
			*m = v
			return nil
		}
	}
	return json.Unmarshal([]byte(doc), m)
}

func (p *parser) permissions() ([]agent.Permission, bool) {
	if p.literal("null") {
		return nil, true
	}
	d := p.d
	d.seq = 0
	d.perms, d.permActions, d.permCons = d.perms[:0], d.permActions[:0], d.permCons[:0]
	d.cons, d.consWindows, d.consIPs = d.cons[:0], d.consWindows[:0], d.consIPs[:0]
	d.windows, d.windowDays, d.strs, d.pairs = d.windows[:0], d.windowDays[:0], d.strs[:0], d.pairs[:0]
	ok := p.array(func() bool {
		d.perms = append(d.perms, agent.Permission{})
		d.permActions = append(d.permActions, null)
		d.permCons = append(d.permCons, -1)
		return p.permission(len(d.perms) - 1)
	})
	var out []agent.Permission
	if ok {
		out = d.assemble()
	}
	clear(d.perms)
	clear(d.cons)
	clear(d.windows)
	clear(d.strs)
	return out, ok
}

// assemble copies what permissions gathered into slices of their exact lengths.
func (d *AgentDecoder) assemble() []agent.Permission {
	strs := append(make([]string, 0, len(d.strs)), d.strs...)
	windows := append(make([]agent.TimeWindow, 0, len(d.windows)), d.windows...)
	for i := range windows {
		windows[i].Days = slice(strs, d.windowDays[i])
	}
	cons := append(make([]agent.Constraints, 0, len(d.cons)), d.cons...)
	for i := range cons {
		cons[i].TimeWindows = slice(windows, d.consWindows[i])
		cons[i].IPAllowlist = slice(strs, d.consIPs[i])
	}
	perms := append(make([]agent.Permission, 0, len(d.perms)), d.perms...)
	for i := range perms {
		perms[i].Actions = slice(strs, d.permActions[i])
		if c := d.permCons[i]; c >= 0 {
			perms[i].Constraints = &cons[c]
		}
	}
	ownIDs(perms)
	return perms
}

// ownIDs copies the permissions' ids, which point into the document, into one string
// that they share.
func ownIDs(perms []agent.Permission) {
	n := 0
	for i := range perms {
		n += len(perms[i].ID)
	}
	var b strings.Builder
	b.Grow(n)
	for i := range perms {
		b.WriteString(perms[i].ID)
	}
	all := b.String()
	for i := range perms {
		n := len(perms[i].ID)
		perms[i].ID, all = all[:n], all[n:]
	}
}

func (p *parser) permission(i int) bool {
	var seen uint
	d := p.d
	return p.object(func(key string) (ok bool) {
		switch key {
		case "id":
			return first(&seen, 1) && p.rawString(&d.perms[i].ID)
		case "resource":
			return first(&seen, 2) && p.internedString(&d.perms[i].Resource)
		case "actions":
			if !first(&seen, 4) {
				return false
			}
			d.permActions[i], ok = p.strings()
			return ok
		case "constraints":
			return first(&seen, 8) && p.constraints(i)
		}
		return false
	})
}

// constraints reads the constraints of permission i.
func (p *parser) constraints(i int) bool {
	if p.literal("null") {
		return true
	}
	d := p.d
	k := len(d.cons)
	d.cons = append(d.cons, agent.Constraints{})
	d.consWindows, d.consIPs = append(d.consWindows, null), append(d.consIPs, null)
	d.permCons[i] = int32(k)
	c := &d.cons[k]
	var seen uint
	return p.object(func(key string) (ok bool) {
		switch key {
		case "rateLimit":
			return first(&seen, 1) && p.rateLimit(&c.RateLimit)
		case "timeWindows":
			if !first(&seen, 2) {
				return false
			}
			d.consWindows[k], ok = p.timeWindows()
			return ok
		case "ipAllowlist":
			if !first(&seen, 4) {
				return false
			}
			d.consIPs[k], ok = p.strings()
			return ok
		case "argumentPatterns":
			return first(&seen, 8) && p.stringMap(&c.ArgumentPatterns, true)
		case "approval":
			return first(&seen, 16) && p.approval(&c.Approval)
		}
		return false
	})
}

func (p *parser) rateLimit(dst **agent.RateLimit) bool {
	if p.literal("null") {
		return true
	}
	r := new(agent.RateLimit)
	var seen uint
	*dst = r
	return p.object(func(key string) bool {
		switch key {
		case "max":
			return first(&seen, 1) && p.integer(&r.Max)
		case "window":
			return first(&seen, 2) && p.duration(&r.Window)
		}
		return false
	})
}

func (p *parser) approval(dst **agent.Approval) bool {
	if p.literal("null") {
		return true
	}
	a := new(agent.Approval)
	var seen uint
	*dst = a
	return p.object(func(key string) bool {
		switch key {
		case "required":
			return first(&seen, 1) && p.boolean(&a.Required)
		case "ttl":
			return first(&seen, 2) && p.duration(&a.TTL)
		case "approvers":
			return first(&seen, 4) && p.stringList(&a.Approvers)
		}
		return false
	})
}

// timeWindows reads an array of time windows into the decoder's scratch space.
func (p *parser) timeWindows() (span, bool) {
	if p.literal("null") {
		return null, true
	}
	d := p.d
	start := int32(len(d.windows))
	ok := p.array(func() bool {
		d.windows = append(d.windows, agent.TimeWindow{})
		d.windowDays = append(d.windowDays, null)
		return p.timeWindow(len(d.windows) - 1)
	})
	return span{start, int32(len(d.windows))}, ok
}

func (p *parser) timeWindow(i int) bool {
	var seen uint
	d := p.d
	w := &d.windows[i]
	return p.object(func(key string) (ok bool) {
		switch key {
		case "days":
			if !first(&seen, 1) {
				return false
			}
			d.windowDays[i], ok = p.strings()
			return ok
		case "start":
			return first(&seen, 2) && p.internedString(&w.Start)
		case "end":
			return first(&seen, 4) && p.internedString(&w.End)
		case "timezone":
			return first(&seen, 8) && p.internedString(&w.Timezone)
		}
		return false
	})
}
