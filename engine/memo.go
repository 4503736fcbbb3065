package engine

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/open-policy-agent/opa/v1/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/telemetry"
)

// The decision memo remembers the policy's answer — the pure part of a decision, before
// obligations — for calls that repeat, as agents calling the same few tools do. Rego stays
// the source of truth: an answer is only ever one the policy gave, reused while nothing it
// depends on can have changed.
//
// What an answer depends on, and how each is covered:
//
//   - the agent's compiled documents: the key holds the compiled agent itself, and every
//     change — the agent's, a delegation above it, a revocation cascading down — publishes
//     a new one, so the next call misses. Under a revision without custom rules the key
//     holds the agent's profile instead, when it has one (profile.go): everything the
//     policy reads about the agent but its identity. The answer is then shared by the
//     agents of that profile, each given it with its own tenant, owner and grant ids, and a
//     change to anything the policy reads gives the agent another profile;
//   - the revision: the key holds it, and a swap makes the next call miss;
//   - the call (action, resource, client address, arguments): in the key, the arguments
//     as a canonical encoding compared whole, never a hash that could collide;
//   - the time: an answer is reused only within [the time it was computed, its horizon),
//     the horizon being the first instant anything time-dependent in the agent's documents
//     for that action could change — the agent's expiry, a delegated grant's expiry, the
//     next minute boundary in the time zone of a window, or the end of that zone's offset
//     period (a daylight-saving change).
//
// A revision whose custom rules read the time, other documents than data.kavach.custom,
// the input as a whole or by computed keys, or call a non-deterministic built-in (http.send,
// time.now_ns, rand…) is never memoised: what its answers depend on cannot be listed.

// DefaultDecisionMemo is how many answers the memo keeps by default.
const DefaultDecisionMemo = 65536

const memoShards = 16

// maxMemoArgs bounds the arguments of a call the memo keeps (their canonical encoding, in
// bytes): larger calls are decided every time.
const maxMemoArgs = 2048

type memo struct {
	perShard int
	shards   [memoShards]memoShard
}

type memoShard struct {
	mu sync.Mutex
	m  map[memoKey]memoEntry
}

type memoKey struct {
	agent *compiledAgent // nil when profile is set
	// profile, for an answer the agents of a profile share, is the profile (profile.go).
	profile                        string
	rev                            *Revision
	action, resource, ip, argsText string
}

type memoEntry struct {
	p           *pure
	from, until int64 // valid for now_ns in [from, until)
	// For an answer the agents of a profile share: grants is the position of each
	// candidate among the agent's grants, where each agent of the profile holds its own
	// ids, and shapes keeps alive the shapes whose addresses the key holds.
	grants []int
	shapes []*grantShape
}

func newMemo(size int) *memo {
	if size <= 0 {
		return nil
	}
	m := &memo{perShard: max(1, size/memoShards)}
	for i := range m.shards {
		m.shards[i].m = make(map[memoKey]memoEntry)
	}
	return m
}

var shardSeed = maphash.MakeSeed()

// shard spreads keys by agent or, for answers the agents of a profile share, by profile
// and call.
func (m *memo) shard(k *memoKey) *memoShard {
	h := uint64(uintptr(unsafe.Pointer(k.agent)) >> 6)
	if k.agent == nil {
		h = maphash.String(shardSeed, k.resource) ^ maphash.String(shardSeed, k.profile)
	}
	return &m.shards[h%memoShards]
}

func (m *memo) get(k *memoKey, now int64) (memoEntry, bool) {
	s := m.shard(k)
	s.mu.Lock()
	e, ok := s.m[*k]
	s.mu.Unlock()
	if !ok || now < e.from || now >= e.until {
		return memoEntry{}, false
	}
	return e, true
}

// shareable records where e's candidates are among c's grants, so that the answer can be
// given to the other agents of c's profile. It reports false when it cannot be shared: a
// candidate that is not exactly one of c's grants, or one that carries obligations.
func (e *memoEntry) shareable(c *compiledAgent) bool {
	e.grants = make([]int, len(e.p.Candidates))
	for i, cand := range e.p.Candidates {
		if len(cand.Rate) > 0 || cand.Approval != nil || len(cand.Via) > 0 {
			return false
		}
		e.grants[i] = -1
		for j := range c.grants {
			if c.grants[j].id == cand.ID {
				if e.grants[i] >= 0 {
					return false
				}
				e.grants[i] = j
			}
		}
		if e.grants[i] < 0 {
			return false
		}
	}
	e.shapes = c.shapes()
	return true
}

// answerFor is a shared answer as the policy gives it to c, an agent of its profile: with
// c's tenant, owner and grant ids.
func (e *memoEntry) answerFor(c *compiledAgent) *pure {
	p := *e.p
	p.Agent.Tenant, p.Agent.Owner = c.tenant, c.owner
	if len(e.p.Candidates) > 0 {
		p.Candidates = make([]candidate, len(e.p.Candidates))
		for i, cand := range e.p.Candidates {
			cand.ID = c.grants[e.grants[i]].id
			p.Candidates[i] = cand
		}
	}
	return &p
}

func (m *memo) put(k *memoKey, e memoEntry) {
	if e.until <= e.from {
		return
	}
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= m.perShard {
		for old := range s.m { // an arbitrary entry: Go's map order is random
			delete(s.m, old)
			break
		}
	}
	s.m[*k] = e
}

// clear forgets every answer (a revision swap: the old ones can no longer be hit).
func (m *memo) clear() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

// memoKeyFor is the key of a call, or false if the call is not memoised.
func memoKeyFor(c *compiledAgent, rev *Revision, req *Request) (memoKey, bool) {
	args, ok := canonicalArgs(req.Arguments)
	if !ok {
		return memoKey{}, false
	}
	k := memoKey{agent: c, rev: rev, action: req.Action, resource: req.Resource, ip: req.IP, argsText: args}
	if rev.shared {
		var buf [256]byte
		if profile, ok := c.appendProfile(buf[:0]); ok {
			k.agent, k.profile = nil, string(profile)
		}
	}
	return k, true
}

// canonicalArgs encodes arguments so that two calls have the same encoding exactly when the
// policy sees the same input: keys sorted, values tagged by type. Values of other types than
// JSON decoding makes, or an encoding past maxMemoArgs, are not memoised.
func canonicalArgs(args map[string]any) (string, bool) {
	if len(args) == 0 {
		return "", true
	}
	b := make([]byte, 0, 64)
	b, ok := appendCanonical(b, args)
	if !ok || len(b) > maxMemoArgs {
		return "", false
	}
	return string(b), true
}

func appendCanonical(b []byte, v any) ([]byte, bool) {
	if len(b) > maxMemoArgs {
		return b, false
	}
	switch x := v.(type) {
	case nil:
		return append(b, 'n'), true
	case bool:
		if x {
			return append(b, 't'), true
		}
		return append(b, 'f'), true
	case string:
		b = append(b, 's')
		b = strconv.AppendInt(b, int64(len(x)), 10)
		return append(append(b, ':'), x...), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return b, false
		}
		return appendNumber(b, strconv.FormatFloat(x, 'g', -1, 64)), true
	case json.Number:
		return appendNumber(b, x.String()), true
	case int:
		return appendNumber(b, strconv.Itoa(x)), true
	case int64:
		return appendNumber(b, strconv.FormatInt(x, 10)), true
	case []any:
		b = strconv.AppendInt(append(b, '['), int64(len(x)), 10)
		for _, e := range x {
			var ok bool
			if b, ok = appendCanonical(b, e); !ok {
				return b, false
			}
		}
		return b, true
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = strconv.AppendInt(append(b, '{'), int64(len(x)), 10)
		for _, k := range keys {
			var ok bool
			if b, ok = appendCanonical(b, k); !ok {
				return b, false
			}
			if b, ok = appendCanonical(b, x[k]); !ok {
				return b, false
			}
		}
		return b, true
	}
	return b, false
}

// appendNumber writes a number by its value, as OPA compares numbers: 1, 1.0 and 1e0 are
// one number.
func appendNumber(b []byte, text string) []byte {
	b = append(b, 'd')
	if f, err := strconv.ParseFloat(text, 64); err == nil && !math.IsInf(f, 0) && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return append(strconv.AppendInt(b, int64(f), 10), ';')
	}
	return append(append(b, text...), ';')
}

// horizon is the first instant after now at which the agent's documents for the action
// could give another answer: the agent's or a grant's expiry, or a window's next minute or
// offset change. math.MaxInt64 when nothing is time-dependent; now when it cannot tell
// (an unknown time zone).
func (c *compiledAgent) horizon(action string, now time.Time) int64 {
	ns := now.UnixNano()
	until := int64(math.MaxInt64)
	earlier := func(t int64) {
		if t > ns && t < until {
			until = t
		}
	}
	if c.expiresNS > 0 {
		earlier(c.expiresNS)
	}
	for i := range c.grants {
		g := &c.grants[i]
		if !g.shape.anyAction && !g.shape.names(action) {
			continue
		}
		if g.expiresNS > 0 {
			earlier(g.expiresNS)
		}
		for _, tz := range g.shape.zones {
			loc, ok := location(tz)
			if !ok {
				return ns
			}
			local := now.In(loc)
			_, offset := local.Zone()
			sec := now.Unix() + int64(offset)
			next := (sec - mod(sec, 60) + 60 - int64(offset)) * int64(time.Second)
			earlier(next)
			if _, end := local.ZoneBounds(); !end.IsZero() {
				earlier(end.UnixNano())
			}
		}
	}
	return until
}

func mod(a, b int64) int64 {
	if r := a % b; r < 0 {
		return r + b
	}
	return a % b
}

var locations sync.Map // time zone name → *time.Location, or false if unknown

// location loads a time zone as OPA's time built-ins do ("" and "UTC" are UTC).
func location(tz string) (*time.Location, bool) {
	if v, ok := locations.Load(tz); ok {
		loc, ok := v.(*time.Location)
		return loc, ok
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		locations.Store(tz, false)
		return nil, false
	}
	locations.Store(tz, loc)
	return loc, true
}

// memoable reports whether a revision's custom rules let its answers be memoised: they read
// only named fields of the input other than now_ns and only data.kavach.custom, and call
// no non-deterministic built-in.
func memoable(mods []*ast.Module) bool {
	safe := true
	heads := map[*ast.Term]bool{}
	check := func(ref ast.Ref) {
		heads[ref[0]] = true
		switch {
		case ref[0].Equal(ast.InputRootDocument):
			if len(ref) < 2 {
				safe = false
				return
			}
			s, ok := ref[1].Value.(ast.String)
			if !ok || s == "now_ns" {
				safe = false
			}
		case ref[0].Equal(ast.DefaultRootDocument):
			if len(ref) < 3 || !ref[1].Equal(ast.StringTerm("kavach")) || !ref[2].Equal(ast.StringTerm("custom")) {
				safe = false
			}
		}
	}
	for _, m := range mods {
		for _, imp := range m.Imports {
			if ref, ok := imp.Path.Value.(ast.Ref); ok {
				check(ref)
			} else if v, ok := imp.Path.Value.(ast.Var); ok && (v.Equal(ast.InputRootDocument.Value) || v.Equal(ast.DefaultRootDocument.Value)) {
				safe = false
			}
		}
		v := ast.NewGenericVisitor(func(x any) bool {
			switch t := x.(type) {
			case *ast.Term:
				switch v := t.Value.(type) {
				case ast.Ref:
					check(v)
				case ast.Var:
					if (v.Equal(ast.InputRootDocument.Value) || v.Equal(ast.DefaultRootDocument.Value)) && !heads[t] {
						safe = false
					}
				case ast.Call:
					if b, ok := ast.BuiltinMap[v[0].String()]; ok && b.Nondeterministic {
						safe = false
					}
				}
			case *ast.Expr:
				if t.IsCall() {
					if b, ok := ast.BuiltinMap[t.Operator().String()]; ok && b.Nondeterministic {
						safe = false
					}
				}
			}
			return !safe
		})
		for _, r := range m.Rules {
			v.Walk(r)
		}
	}
	return safe
}

// memoZones lists the time zones of a grant's windows, for the memo's horizon.
func memoZones(sets [][]window) []string {
	var zones []string
	for _, set := range sets {
		for _, w := range set {
			if !slices.Contains(zones, w.tz) {
				zones = append(zones, w.tz)
			}
		}
	}
	return zones
}

// pureOf is the active revision's answer to req: remembered, or evaluated and remembered.
func (e *Engine) pureOf(ctx context.Context, req Request) (*pure, string, error) {
	return e.pureUnder(ctx, e.active.Load(), req)
}

// pureUnder is rev's answer to req: remembered, or evaluated and remembered. The memo holds
// answers of any revision (the key names it): the shadow revision's too.
func (e *Engine) pureUnder(ctx context.Context, rev *Revision, req Request) (*pure, string, error) {
	return e.pureThrough(ctx, e.memo, rev, req)
}

// Memo remembers answers apart from the engine's own memo, for a caller that judges many
// recorded calls (a replay): their times are past, and must not crowd out live answers.
type Memo struct{ m *memo }

// NewMemo makes a memo of size answers.
func NewMemo(size int) *Memo { return &Memo{m: newMemo(size)} }

func (e *Engine) pureThrough(ctx context.Context, m *memo, rev *Revision, req Request) (*pure, string, error) {
	if m == nil || !rev.memoable {
		return e.evalPure(ctx, rev, req)
	}
	c := e.agents.get(req.AgentID)
	if c == nil { // an unknown agent is cheap to decide, and may be created any moment
		return e.evalPure(ctx, rev, req)
	}
	k, ok := memoKeyFor(c, rev, &req)
	if !ok {
		return e.evalPure(ctx, rev, req)
	}
	now := req.Now.UnixNano()
	if got, ok := m.get(&k, now); ok {
		e.stats.memoHits.Add(1)
		if telemetry.Enabled() {
			trace.SpanFromContext(ctx).SetAttributes(attribute.Bool("kavach.memo.hit", true))
		}
		if k.agent == nil {
			return got.answerFor(c), rev.Name, nil
		}
		return got.p, rev.Name, nil
	}
	p, name, err := e.evalPure(ctx, rev, req)
	// The evaluation read the agent again: the answer is c's only if c was still the
	// published agent after it. Every change publishes a new compiled agent and none comes
	// back, so c was then published throughout. An answer worked out from a newer version
	// must not be remembered under c's key, least of all under c's profile, which other
	// agents share.
	if err == nil && e.agents.get(req.AgentID) == c {
		entry := memoEntry{p: p, from: now, until: c.horizon(req.Action, req.Now)}
		if k.agent != nil || entry.shareable(c) {
			m.put(&k, entry)
		}
	}
	return p, name, err
}
