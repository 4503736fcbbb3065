package service

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Paths of fields in a raw JSON body, for what encoding/json reports without one (invalid
// UTF-8, which it silently replaces) or with one that lacks array indexes (an unknown
// field, a value of the wrong type), and for member names encoding/json would match
// regardless of case (exactKeys). The walk is linear in the body whatever it holds, since
// a hostile body reaches it: paths are built only for what is reported.

// jsonEvent is one token of a body, as walkJSON visits it. It is valid only during the
// visit.
type jsonEvent struct {
	tok    json.Token   // the token; for a closing delimiter, the container's opening one
	raw    []byte       // the token as sent; for a closing delimiter, the whole container
	at     int          // where raw starts in the body
	typ    reflect.Type // the Go type the value decodes into; nil where it is free-form or unknown
	key    bool         // tok is an object's key
	known  bool         // for a key: the object's type has such a field
	folded bool         // for a key: the field it names is spelt otherwise (matched regardless of case)
	close  bool         // tok closes a container
	depth  int          // the containers the token is in; for a delimiter, those around its container
	stack  []jsonFrame  // the open containers, for path
}

// path is the event's path, "" for the body itself: for a key, the path it names; for a
// closing delimiter, the container's. It is built on demand, from the open containers.
func (e *jsonEvent) path() string {
	var b strings.Builder
	for _, f := range e.stack {
		if f.object {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		} else {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	return b.String()
}

// jsonFrame is a container being walked.
type jsonFrame struct {
	object bool
	inKey  bool         // object: a key comes next
	key    string       // object: the key of the value that comes next
	index  int          // array: the index of the value that comes next
	typ    reflect.Type // the container's own type (nil if unknown)
	elem   reflect.Type // the type of the value that comes next
	start  int          // offset of the opening delimiter
}

// maxJSONDepth is the nesting encoding/json refuses to go past.
const maxJSONDepth = 10_000

// walkJSON visits body's tokens in order, each with, given the type root the body decodes
// into, its Go type, until visit returns false or the body ends or breaks off (what
// follows a syntax error is left to encoding/json to report), or nests deeper than
// encoding/json goes (it refuses the body). It costs time and memory in proportion to the
// body, however deeply it nests: a path is built only when asked for.
func walkJSON(body []byte, root reflect.Type, visit func(*jsonEvent) bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var (
		stack []jsonFrame
		e     jsonEvent // one, reused, so that a visit does not allocate
	)
	next := func() reflect.Type { // the type of the value that comes next
		if len(stack) == 0 {
			return root
		}
		return stack[len(stack)-1].elem
	}
	done := func() {
		if len(stack) > 0 {
			if f := &stack[len(stack)-1]; f.object {
				f.inKey = true
			} else {
				f.index++
			}
		}
	}
	for {
		start := int(dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return
		}
		end := int(dec.InputOffset())
		raw := bytes.TrimLeft(body[start:end], " \t\r\n,:")
		e = jsonEvent{tok: tok, raw: raw, at: end - len(raw), depth: len(stack), stack: stack}
		if k, ok := tok.(string); ok && len(stack) > 0 && stack[len(stack)-1].inKey {
			f := &stack[len(stack)-1]
			f.key, f.inKey = k, false
			f.elem, e.known, e.folded = fieldType(f.typ, k)
			e.typ, e.key = f.elem, true
			if !visit(&e) {
				return
			}
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxJSONDepth {
				return
			}
			e.typ = next()
			if !visit(&e) {
				return
			}
			f := jsonFrame{object: tok == json.Delim('{'), typ: container(e.typ), start: end - 1}
			f.inKey = f.object
			if !f.object {
				f.elem = elemType(f.typ)
			}
			stack = append(stack, f)
		case json.Delim('}'), json.Delim(']'):
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			e.tok, e.raw, e.at, e.close = json.Delim('['), body[f.start:end], f.start, true
			if f.object {
				e.tok = json.Delim('{')
			}
			e.typ, e.depth, e.stack = next(), len(stack), stack
			if !visit(&e) {
				return
			}
			done()
		default:
			e.typ = next()
			if !visit(&e) {
				return
			}
			done()
		}
	}
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decodesItself reports whether t reads its own JSON (as time.Time and agent.Duration do).
func decodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshaler) || p.Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || p.Implements(textUnmarshaler)
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// container is the type whose fields or elements are walked for a value of type t: none
// for a type that reads its own JSON, or for free-form JSON.
func container(t reflect.Type) reflect.Type {
	t = deref(t)
	if t == nil || t.Kind() == reflect.Interface || decodesItself(t) {
		return nil
	}
	return t
}

func elemType(t reflect.Type) reflect.Type {
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		return t.Elem()
	}
	return nil
}

// fieldType is the type of an object's member key, and whether the object's type has it:
// a struct field matched as encoding/json matches it (exactly, else case-insensitively),
// or a map's element. folded says a struct field was matched only case-insensitively.
func fieldType(t reflect.Type, key string) (typ reflect.Type, known, folded bool) {
	if t == nil {
		return nil, true, false
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem(), true, false
	case reflect.Struct:
	default:
		return nil, true, false // a kind mismatch, reported on the object itself
	}
	for _, f := range jsonFields(t) {
		switch {
		case f.name == key:
			return f.typ, true, false
		case !known && strings.EqualFold(f.name, key):
			typ, known, folded = f.typ, true, true
		}
	}
	return typ, known, folded
}

// jsonField is a struct field as it appears in JSON.
type jsonField struct {
	name  string
	typ   reflect.Type
	index []int
}

// jsonFields lists the fields encoding/json reads and writes for struct type t, the fields
// of embedded structs included.
func jsonFields(t reflect.Type) []jsonField {
	if v, ok := jsonFieldLists.Load(t); ok {
		return v.([]jsonField)
	}
	out := listJSONFields(t)
	jsonFieldLists.Store(t, out)
	return out
}

var jsonFieldLists sync.Map // reflect.Type → []jsonField

func listJSONFields(t reflect.Type) []jsonField {
	var out []jsonField
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct {
			continue // its fields are listed in its place
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type, index: f.Index})
	}
	return out
}

// badText finds the first string, key or value, that encoding/json would not keep as sent:
// one with invalid UTF-8 or a \u escape of a lone surrogate, both of which it replaces with
// U+FFFD. It returns the string's path ("body" for a string that is the whole body).
func badText(body []byte) (string, bool) {
	var path string
	found := false
	walkJSON(body, nil, func(e *jsonEvent) bool {
		if _, ok := e.tok.(string); ok && !e.close && !textKept(e.raw) {
			path, found = e.path(), true
		}
		return !found
	})
	if found && path == "" {
		path = "body"
	}
	return path, found
}

// surrogateEscape reports whether body may hold a \u escape of a surrogate ("\ud83d"),
// paired or not: a cheap look before the walk that tells which.
func surrogateEscape(body []byte) bool {
	for {
		i := bytes.Index(body, []byte(`\u`))
		if i < 0 || len(body) < i+4 {
			return false
		}
		if d, h := body[i+2], body[i+3]; (d == 'd' || d == 'D') && strings.IndexByte("89abcdefABCDEF", h) >= 0 {
			return true
		}
		body = body[i+2:]
	}
}

// textKept reports whether a JSON string, as sent, decodes to what it says: valid UTF-8,
// and every \u escape of a surrogate one of a pair.
func textKept(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r := hex4(raw[i+1:])
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return false
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return false
			}
			if lo := hex4(raw[i+3:]); lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
	return true
}

// hex4 reads four hex digits, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	if err != nil {
		return -1
	}
	return rune(n)
}

// jsonFault is where decoding a body into a type went wrong.
type jsonFault struct {
	unknown string       // the path of the first key the type has no field for
	bad     string       // the path of the first value that does not decode into its type
	badType reflect.Type // that value's type
}

// locate walks body against type t, as encoding/json decodes it, and finds the first
// unknown key and the first value of the wrong type, each by its full path.
func locate(body []byte, t reflect.Type) jsonFault {
	var f jsonFault
	walkJSON(body, t, func(e *jsonEvent) bool {
		switch {
		case e.key:
			if !e.known && f.unknown == "" {
				f.unknown = e.path()
			}
		case f.bad != "" || e.typ == nil:
		case !valueFits(e):
			f.bad, f.badType = e.path(), deref(e.typ)
		}
		return f.unknown == "" || f.bad == ""
	})
	return f
}

// valueFits reports whether the value of e decodes into its type.
func valueFits(e *jsonEvent) bool {
	t := deref(e.typ)
	d, delim := e.tok.(json.Delim)
	switch {
	case t.Kind() == reflect.Interface:
		return true
	case decodesItself(t):
		// tried on the whole value, once it ends
		return delim && !e.close || json.Unmarshal(e.raw, reflect.New(t).Interface()) == nil
	case delim && e.close:
		return true
	case d == '{':
		return t.Kind() == reflect.Struct || t.Kind() == reflect.Map
	case d == '[':
		return t.Kind() == reflect.Slice || t.Kind() == reflect.Array
	}
	return json.Unmarshal(e.raw, reflect.New(t).Interface()) == nil
}
