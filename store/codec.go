package store

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/kavachos/kavach-go/agent"
)

// AgentDocs is the JSON form in which both backends keep an agent's permissions and
// metadata.
type AgentDocs struct {
	Permissions string
	Metadata    string
}

// EncodeAgentDocs marshals an agent's permissions and metadata.
func EncodeAgentDocs(a *agent.Agent) (AgentDocs, error) {
	p, err := EncodePermissions(a.Permissions)
	if err != nil {
		return AgentDocs{}, err
	}
	meta := a.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	m, err := json.Marshal(meta)
	if err != nil {
		return AgentDocs{}, fmt.Errorf("encode metadata: %w", err)
	}
	return AgentDocs{Permissions: p, Metadata: string(m)}, nil
}

// DecodeAgentDocs fills an agent's permissions and metadata from their JSON form.
func DecodeAgentDocs(a *agent.Agent, d AgentDocs) error {
	var dec AgentDecoder
	return dec.DecodeAgentDocs(a, d)
}

// EncodePermissions marshals permissions — an agent's own or those a delegation hands
// on — as a JSON array, never null.
func EncodePermissions(perms []agent.Permission) (string, error) {
	if perms == nil {
		perms = []agent.Permission{}
	}
	b, err := json.Marshal(perms)
	if err != nil {
		return "", fmt.Errorf("encode permissions: %w", err)
	}
	return string(b), nil
}

// DecodePermissions unmarshals permissions encoded by EncodePermissions.
func DecodePermissions(doc string, perms *[]agent.Permission) error {
	var dec AgentDecoder
	return dec.DecodePermissions(doc, perms)
}

// ApprovalDocs is the JSON form in which both backends keep an approval request's
// arguments and approvers. Arguments is nil, stored as NULL, for nil arguments.
type ApprovalDocs struct {
	Arguments *string
	Approvers string
}

// EncodeApprovalDocs marshals a request's arguments and approvers.
func EncodeApprovalDocs(r *agent.ApprovalRequest) (ApprovalDocs, error) {
	args, err := EncodeArguments(r.Arguments)
	if err != nil {
		return ApprovalDocs{}, err
	}
	approvers, err := EncodeList(r.Approvers)
	if err != nil {
		return ApprovalDocs{}, err
	}
	return ApprovalDocs{Arguments: args, Approvers: approvers}, nil
}

// DecodeApprovalDocs fills a request's arguments and approvers from their JSON form.
func DecodeApprovalDocs(r *agent.ApprovalRequest, d ApprovalDocs) error {
	if err := DecodeArguments(d.Arguments, &r.Arguments); err != nil {
		return fmt.Errorf("decode arguments of %s: %w", r.ID, err)
	}
	if err := DecodeList(d.Approvers, &r.Approvers); err != nil {
		return fmt.Errorf("decode approvers of %s: %w", r.ID, err)
	}
	return nil
}

// AuditDocs is the JSON form in which both backends keep an audit event's arguments and
// via list. Arguments is nil, stored as NULL, for nil arguments.
type AuditDocs struct {
	Arguments *string
	Via       string
}

// EncodeAuditDocs returns an event's stored arguments text (set by PrepareChain) and its
// via list as JSON.
func EncodeAuditDocs(e *AuditEvent) (AuditDocs, error) {
	var args *string
	if e.ArgumentsJSON != "" {
		a := e.ArgumentsJSON
		args = &a
	}
	via, err := EncodeList(e.Via)
	if err != nil {
		return AuditDocs{}, err
	}
	return AuditDocs{Arguments: args, Via: via}, nil
}

// DecodeAuditDocs fills an event's arguments and via list from their JSON form.
func DecodeAuditDocs(e *AuditEvent, d AuditDocs) error {
	if d.Arguments != nil {
		e.ArgumentsJSON = *d.Arguments
	}
	// Arguments that no longer parse are left out rather than failing the read: the
	// event's hash covers ArgumentsJSON, so verification reports the damaged event.
	_ = DecodeArguments(d.Arguments, &e.Arguments)
	if err := DecodeList(d.Via, &e.Via); err != nil {
		return fmt.Errorf("decode via of %s: %w", e.ID, err)
	}
	return nil
}

// EncodeArguments marshals call arguments, keeping nil apart from empty: nil arguments
// encode to nil, which the backends store as NULL.
func EncodeArguments(args map[string]any) (*string, error) {
	if args == nil {
		return nil, nil
	}
	b, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("encode arguments: %w", err)
	}
	s := string(b)
	return &s, nil
}

// DecodeArguments unmarshals arguments encoded by EncodeArguments; nil leaves args as is.
func DecodeArguments(doc *string, args *map[string]any) error {
	if doc == nil {
		return nil
	}
	return json.Unmarshal([]byte(*doc), args)
}

// EncodeList marshals a list of ids as a JSON array, never null, so SQL can search it.
func EncodeList(list []string) (string, error) {
	if list == nil {
		list = []string{}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("encode list: %w", err)
	}
	return string(b), nil
}

// DecodeList unmarshals a list encoded by EncodeList; an empty list decodes to nil.
func DecodeList(doc string, list *[]string) error {
	if err := json.Unmarshal([]byte(doc), list); err != nil {
		return err
	}
	if len(*list) == 0 {
		*list = nil
	}
	return nil
}

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

// parser reads one document for an AgentDecoder. Its methods report false for anything
// they do not expect, and the document then goes to encoding/json instead: unknown or
// repeated keys, keys in another case, numbers that are not plain integers, nulls where
// encoding/json would not simply leave a zero value, invalid UTF-8, lone surrogates.
type parser struct {
	s string
	i int
	d *AgentDecoder
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next consumes c if it comes next.
func (p *parser) next(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// literal consumes word (null, true, false) if it comes next.
func (p *parser) literal(word string) bool {
	if p.i < len(p.s) && p.s[p.i] == '"' {
		return false // the common case: a string, not a literal
	}
	p.skipSpace()
	if strings.HasPrefix(p.s[p.i:], word) {
		p.i += len(word)
		return true
	}
	return false
}

func (p *parser) end() bool {
	p.skipSpace()
	return p.i == len(p.s)
}

// first marks bit as seen and reports whether it was new.
func first(seen *uint, bit uint) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// object reads an object, calling field with each key to read its value.
func (p *parser) object(field func(key string) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	for {
		key, ok := p.str()
		if !ok || !p.next(':') || !field(key) {
			return false
		}
		if !p.next(',') {
			return p.next('}')
		}
	}
}

// array reads an array, calling elem to read each element.
func (p *parser) array(elem func() bool) bool {
	if !p.next('[') {
		return false
	}
	if p.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if !p.next(',') {
			return p.next(']')
		}
	}
}

// Classes of bytes inside a string, for str.
const (
	plain byte = iota
	quote
	backslash
	control
	nonASCII
)

var byteClass = func() (t [256]byte) {
	for c := range 0x20 {
		t[c] = control
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = nonASCII
	}
	t['"'], t['\\'] = quote, backslash
	return t
}()

const ones, highs = 0x0101010101010101, 0x8080808080808080

// str reads a string. One without escapes is a slice of the document: keep a copy.
func (p *parser) str() (string, bool) {
	if !p.next('"') {
		return "", false
	}
	s, start, ascii := p.s, p.i, true
	for i := start; i < len(s); {
		if i+8 <= len(s) {
			// Eight bytes at a time (SWAR): the high bit of a byte of m is set if it is a
			// quote, a backslash, a control character or not ASCII, exactly for the first
			// such byte.
			w := s[i : i+8]
			x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
				uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
			q, b := x^(ones*'"'), x^(ones*'\\')
			m := ((q-ones)&^q | (b-ones)&^b | (x-ones*0x20)&^x | x) & highs
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		switch byteClass[s[i]] {
		case plain:
			i++
		case quote:
			p.i = i + 1
			v := s[start:i]
			return v, ascii || utf8.ValidString(v)
		case backslash:
			p.i = i
			return p.unescape(start)
		case control:
			return "", false
		default:
			ascii = false
			i++
		}
	}
	return "", false
}

// unescape finishes a string that has escapes, from start, into a new string.
func (p *parser) unescape(start int) (string, bool) {
	b := []byte(p.s[start:p.i])
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b), utf8.Valid(b)
		case c < 0x20:
			return "", false
		case c != '\\':
			b = append(b, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", false
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := p.hex4()
			if ok && utf16.IsSurrogate(r) {
				var r2 rune
				if ok = strings.HasPrefix(p.s[p.i:], `\u`); ok {
					p.i += 2
					r2, ok = p.hex4()
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					ok = false
				}
			}
			if !ok {
				return "", false
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	v, err := strconv.ParseUint(p.s[p.i:p.i+4], 16, 32)
	p.i += 4
	return rune(v), err == nil
}

// rawString reads a string that the caller copies later; null leaves *dst as it is.
func (p *parser) rawString(dst *string) bool {
	if p.literal("null") {
		return true
	}
	s, ok := p.str()
	*dst = s
	return ok
}

// internedString reads a string into *dst through the decoder's table.
func (p *parser) internedString(dst *string) bool {
	if p.literal("null") {
		return true
	}
	s, ok := p.str()
	*dst = p.d.intern(s)
	return ok
}

func (p *parser) integer(dst *int) bool {
	if p.literal("null") {
		return true
	}
	start := p.i
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i-digits > 1 && p.s[digits] == '0' { // a leading zero is not JSON
		return false
	}
	v, err := strconv.Atoi(p.s[start:p.i])
	*dst = v
	return err == nil
}

func (p *parser) boolean(dst *bool) bool {
	switch {
	case p.literal("true"):
		*dst = true
	case p.literal("false"):
		*dst = false
	default:
		return p.literal("null")
	}
	return true
}

func (p *parser) duration(dst *agent.Duration) bool {
	s, ok := p.str()
	if !ok {
		return false
	}
	v, err := time.ParseDuration(s)
	*dst = agent.Duration(v)
	return err == nil
}

// strings reads an array of strings, interned, into the decoder's scratch space.
func (p *parser) strings() (span, bool) {
	if p.literal("null") {
		return null, true
	}
	d := p.d
	start := int32(len(d.strs))
	ok := p.array(func() bool {
		s, ok := p.str()
		d.strs = append(d.strs, d.intern(s))
		return ok
	})
	return span{start, int32(len(d.strs))}, ok
}

// stringList reads an array of strings, interned, into a slice of its own.
func (p *parser) stringList(dst *[]string) bool {
	start := len(p.d.strs)
	s, ok := p.strings()
	if ok && s != null {
		*dst = append(make([]string, 0, s.end-s.start), slice(p.d.strs, s)...)
	}
	p.d.strs = p.d.strs[:start]
	return ok
}

// stringMap reads an object of strings; keys are interned, and values too if internValues.
func (p *parser) stringMap(dst *map[string]string, internValues bool) bool {
	if p.literal("null") {
		return true
	}
	d := p.d
	start := len(d.pairs)
	ok := p.object(func(key string) bool {
		v, ok := p.str()
		if internValues {
			v = d.intern(v)
		} else {
			v = strings.Clone(v)
		}
		d.pairs = append(d.pairs, d.intern(key), v)
		return ok
	})
	if ok {
		m := make(map[string]string, (len(d.pairs)-start)/2)
		for i := start; i < len(d.pairs); i += 2 {
			m[d.pairs[i]] = d.pairs[i+1]
		}
		*dst = m
	}
	d.pairs = d.pairs[:start]
	return ok
}

// permissions reads an array of permissions. All their constraints, time windows and
// lists of strings share one slice of each kind.
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
