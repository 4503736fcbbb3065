package store

import (
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/kavachos/kavach-go/agent"
)

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
