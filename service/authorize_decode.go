package service

import (
	"strconv"
	"unicode/utf8"

	"github.com/kavachos/kavach-go/api"
)

// The authorize routes are the hot path, so their bodies are decoded by hand rather than
// by encoding/json's reflection. The decoder takes only the plain form of a body: known
// field names spelt exactly, each at most once, strings without escapes, numbers
// strconv.ParseFloat reads. Anything else — an unknown or differently cased field, an
// escape, a syntax error, trailing data — makes it give up, and bind decodes the body
// again with encoding/json, which accepts or refuses it with the usual errors. So the
// hand decoder never decides whether a body is valid, only how fast a valid one is read;
// FuzzAuthorizeDecoder checks that it agrees with encoding/json on what it accepts.

// maxFastDepth bounds how deeply nested arguments the hand decoder follows.
const maxFastDepth = 64

// decodeInto makes a hand decoder for bindFast out of decode, filling dst only when it
// succeeds, so that encoding/json starts from a zero value when it does not.
func decodeInto[T any](decode func([]byte, *T) bool, dst *T) func([]byte) bool {
	return func(body []byte) bool {
		var v T
		if !decode(body, &v) {
			return false
		}
		*dst = v
		return true
	}
}

// decodeAuthorizeAgent decodes the body of POST /v1/authorize. It reports false if the
// body is not in the plain form.
func decodeAuthorizeAgent(body []byte, req *api.AuthorizeAgentRequest) bool {
	d := fastDecoder{b: body}
	var seen uint8
	ok := d.object(func(key []byte) bool {
		var bit uint8
		var ok bool
		switch string(key) {
		case "agentId":
			bit, ok = 1<<0, d.str(&req.AgentID)
		case "context":
			bit, ok = 1<<1, d.callContext(&req.Context)
		case "token":
			bit, ok = 1<<6, d.str(&req.Token)
		default:
			bit, ok = d.authorizeField(key, &req.AuthorizeRequest)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	return ok && d.end()
}

// decodeAuthorize decodes the body of POST /v1/authorize/token.
func decodeAuthorize(body []byte, req *api.AuthorizeRequest) bool {
	d := fastDecoder{b: body}
	var seen uint8
	ok := d.object(func(key []byte) bool {
		bit, ok := d.authorizeField(key, req)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	return ok && d.end()
}

// authorizeField decodes one field of api.AuthorizeRequest and names it by a bit.
func (d *fastDecoder) authorizeField(key []byte, req *api.AuthorizeRequest) (uint8, bool) {
	switch string(key) {
	case "action":
		return 1 << 2, d.str(&req.Action)
	case "resource":
		return 1 << 3, d.str(&req.Resource)
	case "arguments":
		return 1 << 4, d.arguments(&req.Arguments)
	case "dryRun":
		return 1 << 5, d.boolean(&req.DryRun)
	}
	return 0, false
}

func (d *fastDecoder) callContext(dst **api.CallContext) bool {
	if d.null() {
		*dst = nil
		return true
	}
	cc := &api.CallContext{}
	var seen uint8
	ok := d.object(func(key []byte) bool {
		var bit uint8
		var ok bool
		switch string(key) {
		case "ip":
			bit, ok = 1, d.str(&cc.IP)
		case "userAgent":
			bit, ok = 2, d.str(&cc.UserAgent)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	*dst = cc
	return ok
}

func (d *fastDecoder) arguments(dst *map[string]any) bool {
	if d.null() {
		*dst = nil
		return true
	}
	m, ok := d.objectValue(1)
	*dst = m
	return ok
}

// fastDecoder reads JSON from b, starting at i.
type fastDecoder struct {
	b []byte
	i int
}

func (d *fastDecoder) skipSpace() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// end reports whether nothing but white space is left.
func (d *fastDecoder) end() bool {
	d.skipSpace()
	return d.i == len(d.b)
}

// peek skips white space and returns the next byte, or 0 at the end.
func (d *fastDecoder) peek() byte {
	d.skipSpace()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// object reads an object, calling field with the decoder positioned at each key's value.
func (d *fastDecoder) object(field func(key []byte) bool) bool {
	if d.peek() != '{' {
		return false
	}
	d.i++
	if d.peek() == '}' {
		d.i++
		return true
	}
	for {
		if d.peek() != '"' {
			return false
		}
		key, ok := d.rawString()
		if !ok || d.peek() != ':' {
			return false
		}
		d.i++
		if !field(key) {
			return false
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

// rawString reads a string without escapes and returns its bytes, which alias b.
func (d *fastDecoder) rawString() ([]byte, bool) {
	if d.peek() != '"' {
		return nil, false
	}
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			d.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// str reads a string or null (which, as in encoding/json, leaves dst alone).
func (d *fastDecoder) str(dst *string) bool {
	if d.null() {
		return true
	}
	s, ok := d.rawString()
	if ok {
		*dst = string(s)
	}
	return ok
}

func (d *fastDecoder) boolean(dst *bool) bool {
	switch {
	case d.null():
		return true
	case d.literal("true"):
		*dst = true
		return true
	case d.literal("false"):
		*dst = false
		return true
	}
	return false
}

func (d *fastDecoder) null() bool { return d.literal("null") }

func (d *fastDecoder) literal(word string) bool {
	if d.peek() != word[0] || len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return false
	}
	d.i += len(word)
	return true
}

// value reads any JSON value the way encoding/json stores it in an interface: objects as
// map[string]any, arrays as []any, numbers as float64.
func (d *fastDecoder) value(depth int) (any, bool) {
	if depth > maxFastDepth {
		return nil, false
	}
	switch c := d.peek(); {
	case c == '"':
		s, ok := d.rawString()
		return string(s), ok
	case c == '{':
		m, ok := d.objectValue(depth + 1)
		return m, ok
	case c == '[':
		return d.array(depth + 1)
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case d.literal("true"):
		return true, true
	case d.literal("false"):
		return false, true
	case d.literal("null"):
		return nil, true
	}
	return nil, false
}

func (d *fastDecoder) objectValue(depth int) (map[string]any, bool) {
	m := map[string]any{}
	ok := d.object(func(key []byte) bool {
		if _, dup := m[string(key)]; dup {
			return false
		}
		v, ok := d.value(depth)
		m[string(key)] = v
		return ok
	})
	return m, ok
}

func (d *fastDecoder) array(depth int) ([]any, bool) {
	d.i++ // '['
	a := []any{}
	if d.peek() == ']' {
		d.i++
		return a, true
	}
	for {
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return a, true
		default:
			return nil, false
		}
	}
}

// number reads a number in JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *fastDecoder) number() (any, bool) {
	b, start := d.b, d.i
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		if j := digits(b, i+1); j > i+1 {
			i = j
		} else {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if j := digits(b, i); j > i {
			i = j
		} else {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(string(b[start:i]), 64)
	if err != nil {
		return nil, false
	}
	d.i = i
	return f, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
