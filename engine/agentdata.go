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
)

// compiledAgent is an agent as decisions see it. It is immutable once published: a change
// publishes a new one. It is kept compact — a million agents must fit in a few gigabytes —
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
	approval  *approvalGate
	rate      []rateLimit
	via       []string
	expiresNS int64
}

// grantShape is the part of a grant that agents made from the same template share,
// prebuilt as the terms the policy reads.
type grantShape struct {
	actions   []string
	anyAction bool
	match     [2]*ast.Term // "exact": pattern, or "re": anchored regex
	ip        *ast.Term
	windows   *ast.Term
	args      *ast.Term
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
	keyExact     = ast.InternedTerm("exact")
	keyRe        = ast.InternedTerm("re")
	keyIP        = ast.InternedTerm("ip")
	keyWindows   = ast.InternedTerm("windows")
	keyArgs      = ast.InternedTerm("args")
	keyApproval  = ast.InternedTerm("approval")
	keyRate      = ast.InternedTerm("rate")
	keyVia       = ast.InternedTerm("via")
	keyAnyAction = ast.InternedTerm("*")
	emptyArray   = ast.ArrayTerm()
	nullTerm     = ast.NullTerm()
)

// header is data.kavach.agents[id]: who the agent belongs to and whether it may act.
func (c *compiledAgent) header() ast.Value {
	return ast.NewObject(
		[2]*ast.Term{keyTenant, ast.StringTerm(c.tenant)},
		[2]*ast.Term{keyOwner, ast.StringTerm(c.owner)},
		[2]*ast.Term{keyStatus, ast.StringTerm(c.status)},
		[2]*ast.Term{keyExpiresNS, intTerm(c.expiresNS)},
	)
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

func (g *compiledGrant) term() *ast.Term {
	return ast.ObjectTerm(
		[2]*ast.Term{keyID, ast.StringTerm(g.id)},
		g.shape.match,
		[2]*ast.Term{keyIP, g.shape.ip},
		[2]*ast.Term{keyWindows, g.shape.windows},
		[2]*ast.Term{keyArgs, g.shape.args},
		[2]*ast.Term{keyApproval, approvalTerm(g.approval)},
		[2]*ast.Term{keyRate, rateTerm(g.rate)},
		[2]*ast.Term{keyVia, stringsTerm(g.via)},
		[2]*ast.Term{keyExpiresNS, intTerm(g.expiresNS)},
	)
}

func approvalTerm(a *approvalGate) *ast.Term {
	if a == nil {
		return nullTerm
	}
	return ast.ObjectTerm(
		[2]*ast.Term{ast.InternedTerm("ttl_ns"), intTerm(a.TTLNS)},
		[2]*ast.Term{ast.InternedTerm("approvers"), stringsTerm(a.Approvers)},
		[2]*ast.Term{keyOwner, ast.StringTerm(a.Owner)},
	)
}

func rateTerm(rs []rateLimit) *ast.Term {
	if len(rs) == 0 {
		return emptyArray
	}
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

func stringsTerm(ss []string) *ast.Term {
	if len(ss) == 0 {
		return emptyArray
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

// of returns the interned shape of g.
func (sh *shapes) of(g *grant) *grantShape {
	key := g.shapeKey()
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

// shapeKey identifies a grant's shape: equal keys, equal shapes.
func (g *grant) shapeKey() string {
	var b strings.Builder
	b.WriteString(g.resource)
	for _, a := range g.actions {
		b.WriteByte(0)
		b.WriteString(a)
	}
	b.WriteByte(1)
	for _, list := range g.ip {
		b.WriteByte(2)
		for _, p := range list {
			b.WriteByte(0)
			b.WriteString(p)
		}
	}
	for _, set := range g.windows {
		b.WriteByte(3)
		for _, w := range set {
			b.WriteByte(0)
			b.WriteString(w.tz)
			b.WriteString("\x00" + strconv.Itoa(w.start) + "-" + strconv.Itoa(w.end) + "/" + strconv.Itoa(int(w.days)))
		}
	}
	for _, a := range g.args {
		b.WriteByte(4)
		b.WriteString(a.name)
		b.WriteByte(0)
		b.WriteString(a.re)
	}
	return b.String()
}

func (g *grant) buildShape() *grantShape {
	s := &grantShape{actions: slices.Clone(g.actions), anyAction: slices.Contains(g.actions, "*")}
	if strings.Contains(g.resource, "*") {
		s.match = [2]*ast.Term{keyRe, ast.StringTerm(resourceRegex(g.resource))}
	} else {
		s.match = [2]*ast.Term{keyExact, ast.StringTerm(g.resource)}
	}
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
	s.ip, s.windows, s.args = ast.ArrayTerm(ip...), ast.ArrayTerm(windows...), ast.ArrayTerm(args...)
	return s
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
