package engine

import (
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/kavachos/kavach-go/agent"
)

// compiledAgent is an agent as decisions see it. It is immutable once published: a change
// publishes a new one. It is kept compact — a million agents take about half a gigabyte —
// and turned into OPA values only for the parts a decision reads.
type compiledAgent struct {
	tenant, owner, status string
	expiresNS             int64
	grants                []compiledGrant
}

// compiledGrant is one effective grant. What many grants share — the resource pattern,
// actions and stateless constraints — lives in an interned shape.
type compiledGrant struct {
	id        string
	shape     *grantShape
	more      *obligations // nil for most grants
	expiresNS int64
}

// obligations are what a grant leaves to be done beyond the stateless checks, and where it
// came from.
type obligations struct {
	approval *approvalGate
	rate     []rateLimit
	via      []string
}

func newObligations(approval *approvalGate, rate []rateLimit, via []string) *obligations {
	if approval == nil && len(rate) == 0 && len(via) == 0 {
		return nil
	}
	return &obligations{approval: approval, rate: rate, via: via}
}

// grantShape is the part of a grant that agents made from the same template share,
// prebuilt as the terms the policy reads.
type grantShape struct {
	actions   []string
	anyAction bool
	re        *ast.Term // the resource pattern as an anchored regex
	ip        *ast.Term
	windows   *ast.Term
	args      *ast.Term
	zones     []string // the time zones of the windows, for the decision memo
}

func (s *grantShape) names(action string) bool {
	return slices.Contains(s.actions, action)
}

// Keys of the documents the policy reads, shared by every value built.
var (
	keyTenant    = ast.InternedTerm("tenant")
	keyOwner     = ast.InternedTerm("owner")
	keyStatus    = ast.InternedTerm("status")
	keyExpiresNS = ast.InternedTerm("expires_ns")
	keyID        = ast.InternedTerm("id")
	keyRe        = ast.InternedTerm("re")
	keyIP        = ast.InternedTerm("ip")
	keyWindows   = ast.InternedTerm("windows")
	keyArgs      = ast.InternedTerm("args")
	keyApproval  = ast.InternedTerm("approval")
	keyRate      = ast.InternedTerm("rate")
	keyVia       = ast.InternedTerm("via")
	keyAnyAction = ast.InternedTerm("*")
)

// header is data.kavach.agents[id]: who the agent belongs to and whether it may act.
func (c *compiledAgent) header() ast.Value {
	return ast.NewObject(
		[2]*ast.Term{keyTenant, ast.StringTerm(c.tenant)},
		[2]*ast.Term{keyOwner, ast.StringTerm(c.owner)},
		[2]*ast.Term{keyStatus, statusTerm(c.status)},
		[2]*ast.Term{keyExpiresNS, intTerm(c.expiresNS)},
	)
}

// The statuses an agent has, as terms shared by every header.
var (
	activeTerm  = ast.StringTerm(string(agent.StatusActive))
	revokedTerm = ast.StringTerm(string(agent.StatusRevoked))
)

func statusTerm(status string) *ast.Term {
	switch status {
	case string(agent.StatusActive):
		return activeTerm
	case string(agent.StatusRevoked):
		return revokedTerm
	}
	return ast.StringTerm(status)
}

// grantsFor is data.kavach.grants[id][action]: the grants that name the action, with those
// for any action, in grant order. An action no grant names has no entry (the policy then
// reads the "*" entry); "*" itself lists the grants for any action.
func (c *compiledAgent) grantsFor(action string) (ast.Value, bool) {
	var terms []*ast.Term
	named := false
	for i := range c.grants {
		s := c.grants[i].shape
		switch {
		case action != "*" && s.names(action):
			named = true
		case !s.anyAction:
			continue
		}
		terms = append(terms, c.grants[i].term())
	}
	if len(terms) == 0 || (action != "*" && !named) {
		return nil, false
	}
	return ast.NewArray(terms...), true
}

// grantsDoc is data.kavach.grants[id] in full: every named action and "*".
func (c *compiledAgent) grantsDoc() ast.Value {
	obj := ast.NewObject()
	var actions []string
	for _, g := range c.grants {
		for _, a := range g.shape.actions {
			if !slices.Contains(actions, a) {
				actions = append(actions, a)
			}
		}
	}
	for _, a := range append(actions, "*") {
		if v, ok := c.grantsFor(a); ok {
			obj.Insert(ast.StringTerm(a), ast.NewTerm(v))
		}
	}
	return obj
}

// term renders the grant as the policy reads it. Only what the grant has is present: a
// grant without constraints or obligations is {"id", "re"}, and an absent list means no
// constraint.
func (g *compiledGrant) term() *ast.Term {
	var pairs [9][2]*ast.Term
	pairs[0] = [2]*ast.Term{keyID, ast.StringTerm(g.id)}
	pairs[1] = [2]*ast.Term{keyRe, g.shape.re}
	n := 2
	add := func(k, v *ast.Term) {
		if v != nil {
			pairs[n] = [2]*ast.Term{k, v}
			n++
		}
	}
	add(keyIP, g.shape.ip)
	add(keyWindows, g.shape.windows)
	add(keyArgs, g.shape.args)
	if g.more != nil {
		add(keyApproval, approvalTerm(g.more))
		add(keyRate, rateTerm(g.more))
		add(keyVia, viaTerm(g.more))
	}
	if g.expiresNS != 0 {
		add(keyExpiresNS, intTerm(g.expiresNS))
	}
	return ast.ObjectTerm(pairs[:n]...)
}

func approvalTerm(o *obligations) *ast.Term {
	if o.approval == nil {
		return nil
	}
	a := o.approval
	return ast.ObjectTerm(
		[2]*ast.Term{ast.InternedTerm("ttl_ns"), intTerm(a.TTLNS)},
		[2]*ast.Term{ast.InternedTerm("approvers"), stringsTerm(a.Approvers)},
		[2]*ast.Term{keyOwner, ast.StringTerm(a.Owner)},
	)
}

func rateTerm(o *obligations) *ast.Term {
	if len(o.rate) == 0 {
		return nil
	}
	rs := o.rate
	terms := make([]*ast.Term, len(rs))
	for i, r := range rs {
		terms[i] = ast.ObjectTerm(
			[2]*ast.Term{ast.InternedTerm("key"), ast.StringTerm(r.Key)},
			[2]*ast.Term{ast.InternedTerm("max"), ast.InternedTerm(r.Max)},
			[2]*ast.Term{ast.InternedTerm("window_ns"), intTerm(r.WindowNS)},
		)
	}
	return ast.ArrayTerm(terms...)
}

func viaTerm(o *obligations) *ast.Term {
	if len(o.via) == 0 {
		return nil
	}
	return stringsTerm(o.via)
}

func stringsTerm(ss []string) *ast.Term {
	if len(ss) == 0 {
		return ast.InternedEmptyArray
	}
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

func intTerm(n int64) *ast.Term {
	if n >= 0 && n < 512 {
		return ast.InternedTerm(int(n))
	}
	return &ast.Term{Value: ast.Number(strconv.FormatInt(n, 10))}
}

// shapes interns grant shapes: agents made from one template share one copy. Entries are
// held weakly, so a shape no grant uses any more is collected and forgotten.
type shapes struct {
	mu sync.Mutex
	m  map[string]weak.Pointer[grantShape]
}

func newShapes() *shapes { return &shapes{m: map[string]weak.Pointer[grantShape]{}} }

// lookup returns the shape interned under key, or nil. It does not allocate.
func (sh *shapes) lookup(key []byte) *grantShape {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if wp, ok := sh.m[string(key)]; ok {
		return wp.Value()
	}
	return nil
}

// of returns the shape interned under key, building it from g if there is none.
func (sh *shapes) of(key string, g *grant) *grantShape {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if wp, ok := sh.m[key]; ok {
		if s := wp.Value(); s != nil {
			return s
		}
	}
	s := g.buildShape()
	wp := weak.Make(s)
	sh.m[key] = wp
	runtime.AddCleanup(s, sh.forget, shapeRef{key, wp})
	return s
}

type shapeRef struct {
	key string
	wp  weak.Pointer[grantShape]
}

func (sh *shapes) forget(r shapeRef) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[r.key] == r.wp {
		delete(sh.m, r.key)
	}
}

func (sh *shapes) len() int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.m)
}

// shapeKey identifies a compiled grant's shape: equal keys, equal shapes. Every field is
// written with its length, so no choice of strings makes two different shapes share a key
// (shapes are shared across tenants).
func (g *grant) shapeKey() string {
	k := keyBuilder(make([]byte, 0, 160))
	k.field("g")
	k.field(g.resource)
	k.list(g.actions)
	for _, list := range g.ip {
		k.field("ip")
		k.list(list)
	}
	for _, set := range g.windows {
		k.field("windows")
		k.field(strconv.Itoa(len(set)))
		for _, w := range set {
			k.field(w.tz)
			k.field(strconv.Itoa(w.start) + "-" + strconv.Itoa(w.end) + "/" + strconv.Itoa(int(w.days)))
		}
	}
	for _, a := range g.args {
		k.field("arg")
		k.field(a.name)
		k.field(a.re)
	}
	return string(k)
}

// permissionKey identifies the shape of a permission as stored, before its constraints are
// canonicalised: permissions with equal keys compile to equal shapes. It is cheaper than
// compiling the permission, which a full load would otherwise do for every agent. It
// appends to buf.
func permissionKey(buf []byte, p agent.Permission) []byte {
	k := keyBuilder(buf[:0])
	k.field("p")
	k.field(p.Resource)
	k.list(p.Actions)
	c := p.Constraints
	if c == nil {
		return k
	}
	k.list(c.IPAllowlist)
	for _, w := range c.TimeWindows {
		k.field("window")
		k.field(w.Start)
		k.field(w.End)
		k.field(w.Timezone)
		k.list(w.Days)
	}
	if len(c.ArgumentPatterns) > 0 {
		names := make([]string, 0, len(c.ArgumentPatterns))
		for name := range c.ArgumentPatterns {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			k.field("arg")
			k.field(name)
			k.field(c.ArgumentPatterns[name])
		}
	}
	return k
}

// keyBuilder writes length-prefixed fields.
type keyBuilder []byte

func (k *keyBuilder) field(s string) {
	*k = append(strconv.AppendInt(*k, int64(len(s)), 10), ':')
	*k = append(*k, s...)
}

func (k *keyBuilder) list(ss []string) {
	*k = append(strconv.AppendInt(*k, int64(len(ss)), 10), '[')
	for _, s := range ss {
		k.field(s)
	}
}

func (g *grant) buildShape() *grantShape {
	s := &grantShape{actions: slices.Clone(g.actions), anyAction: slices.Contains(g.actions, "*")}
	s.re = ast.StringTerm(resourceRegex(g.resource))
	ip := make([]*ast.Term, len(g.ip))
	for i, list := range g.ip {
		ip[i] = stringsTerm(list)
	}
	windows := make([]*ast.Term, len(g.windows))
	for i, set := range g.windows {
		windows[i] = windowSetTerm(set)
	}
	args := make([]*ast.Term, len(g.args))
	for i, a := range g.args {
		args[i] = ast.ObjectTerm(
			[2]*ast.Term{ast.InternedTerm("name"), ast.StringTerm(a.name)},
			[2]*ast.Term{keyRe, ast.StringTerm(a.re)},
		)
	}
	s.ip, s.windows, s.args = nonEmpty(ip), nonEmpty(windows), nonEmpty(args)
	s.zones = memoZones(g.windows)
	return s
}

func nonEmpty(terms []*ast.Term) *ast.Term {
	if len(terms) == 0 {
		return nil
	}
	return ast.ArrayTerm(terms...)
}

// resourceRegex turns a resource pattern into an anchored regular expression: "*" as a
// segment matches exactly one segment, a trailing "*" one or more. Resources are validated
// to have no empty segments, so "one or more segments" is any non-empty rest.
func resourceRegex(pattern string) string {
	segs := strings.Split(pattern, ":")
	tail := segs[len(segs)-1] == "*"
	if tail {
		segs = segs[:len(segs)-1]
	}
	var b strings.Builder
	b.WriteByte('^')
	for _, s := range segs {
		if s == "*" {
			b.WriteString("[^:]+")
		} else {
			b.WriteString(regexp.QuoteMeta(s))
		}
		b.WriteByte(':')
	}
	if tail {
		b.WriteString(".+$")
		return b.String()
	}
	return strings.TrimSuffix(b.String(), ":") + "$"
}
