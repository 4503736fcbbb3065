package service

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Member names in request bodies are matched exactly. encoding/json matches a struct
// field's name without regard to case, and lets the last of two equal names win, so
// {"subject":A,"Subject":B} would be judged for B while a component in front of the server
// that reads JSON as RFC 8259 defines it sees A. exactKeys makes the body say to
// encoding/json what it says to everyone else: a name that is not a field's exact name is
// an unknown member (ignored, or refused where unknown members are), and a name twice in
// one object is refused.

// exactKeys returns body, or a copy in which every member name that encoding/json would
// take for a field spelt otherwise is made unknown to it; a member name that appears twice
// in one object is an invalid-input error naming it. root is the type body decodes into.
// A body whose names are all lower-case ASCII without escapes, or field names of root's
// types, and unique within their objects, is returned as it is without being walked. The
// walk costs time and memory in proportion to the body, however deeply it nests.
func exactKeys(body []byte, root reflect.Type) ([]byte, error) {
	names := fieldNames(root)
	if plainKeys(body, names.exact, names.folded) {
		return body, nil
	}
	type frame struct {
		object bool
		typ    reflect.Type    // the container's type, nil where free-form
		elem   reflect.Type    // the type of the value that comes next
		inKey  bool            // object: a name comes next
		key    string          // object: the name of the value that comes next
		index  int             // array: the index of the value that comes next
		first  string          // object: the first name
		seen   map[string]bool // object: the names after the first, made at the second
		named  bool            // object: a name was read
	}
	var (
		stack []frame
		out   []byte
		from  int
	)
	path := func(last string) string {
		var b strings.Builder
		for _, f := range stack[:len(stack)-1] {
			if f.object {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			}
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(last)
		return b.String()
	}
	done := func() { // a value ended: the container's next one comes
		if n := len(stack); n > 0 {
			if f := &stack[n-1]; f.object {
				f.inKey = true
			} else {
				f.index++
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			break // the end, or what encoding/json reports
		}
		if k, ok := tok.(string); ok && len(stack) > 0 && stack[len(stack)-1].inKey {
			f := &stack[len(stack)-1]
			switch {
			case !f.named:
				f.first, f.named = k, true
			case k == f.first || f.seen[k]:
				return nil, invalidMember(path(k))
			case f.seen == nil:
				f.seen = map[string]bool{k: true}
			default:
				f.seen[k] = true
			}
			var folded bool
			f.elem, _, folded = fieldType(f.typ, k)
			f.key, f.inKey = k, false
			if folded {
				at := int(start) + bytes.IndexByte(body[start:], '"') + 1 // just inside the name's quote
				out = append(append(out, body[from:at]...), '~')
				from = at
			}
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxJSONDepth {
				return body, nil // deeper than encoding/json goes: it refuses the body
			}
			typ := root
			if n := len(stack); n > 0 {
				typ = stack[n-1].elem
			}
			f := frame{object: tok == json.Delim('{'), typ: container(typ)}
			if f.object {
				f.inKey = true
			} else {
				f.elem = elemType(f.typ)
			}
			stack = append(stack, f)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			done()
		default:
			done()
		}
	}
	if out == nil {
		return body, nil
	}
	return append(out, body[from:]...), nil
}

// maxJSONDepth is the nesting encoding/json refuses to go past.
const maxJSONDepth = 10_000

func invalidMember(path string) error {
	return invalid(path, "the member appears twice in its object: member names must be unique")
}

// jsonNames are the JSON names of the fields of the structs reachable from a type that are
// not plain lower-case ASCII (such as "userAgent"), which plainKeys accepts as they are,
// and those names in lower case ("useragent"), which encoding/json would fold to them.
type jsonNames struct{ exact, folded map[string]bool }

func fieldNames(t reflect.Type) jsonNames {
	if v, ok := fieldNameSets.Load(t); ok {
		return v.(jsonNames)
	}
	names := jsonNames{exact: map[string]bool{}, folded: map[string]bool{}}
	var visit func(reflect.Type)
	done := map[reflect.Type]bool{}
	visit = func(t reflect.Type) {
		t = deref(t)
		if t == nil || done[t] {
			return
		}
		done[t] = true
		switch t.Kind() {
		case reflect.Slice, reflect.Array, reflect.Map:
			visit(t.Elem())
		case reflect.Struct:
			for _, f := range jsonFields(t) {
				if !plainName([]byte(f.name)) {
					names.exact[f.name] = true
					names.folded[strings.ToLower(f.name)] = true
				}
				visit(f.typ)
			}
		}
	}
	visit(t)
	fieldNameSets.Store(t, names)
	return names
}

var fieldNameSets sync.Map // reflect.Type → jsonNames

// plainName reports whether a member name (as sent, without its quotes) is lower-case
// ASCII without escapes, which encoding/json can match only to a field spelt the same.
func plainName(name []byte) bool {
	for _, c := range name {
		if c >= 'A' && c <= 'Z' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// plainKeys reports, in one pass over body without allocating, whether every member name
// is plain (plainName) but not one of folded, or one of names, and no object has a name
// twice. It answers false when it cannot tell cheaply: an object with more than
// maxPlainMembers members, deep nesting, or a body that is not well-formed (encoding/json
// reports that).
func plainKeys(body []byte, names, folded map[string]bool) bool {
	const maxPlainMembers = 32
	var (
		keys   [64]uint64 // hashes of the member names of the open objects, outermost first
		nkeys  int
		starts [32]int // for each open object, where its names start in keys
		depth  int
	)
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{':
			if depth == len(starts) {
				return false
			}
			starts[depth] = nkeys
			depth++
		case '[':
			if depth == len(starts) {
				return false
			}
			starts[depth] = -1 // an array's strings are values
			depth++
		case '}', ']':
			if depth == 0 {
				return false
			}
			depth--
			if starts[depth] >= 0 {
				nkeys = starts[depth]
			}
		case '"':
			end := i + 1
			for end < len(body) && body[end] != '"' {
				if body[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(body) {
				return false
			}
			name := body[i+1 : end]
			j := end + 1
			for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\r' || body[j] == '\n') {
				j++
			}
			if j < len(body) && body[j] == ':' { // a member name
				if depth == 0 || starts[depth-1] < 0 {
					return false
				}
				if plainName(name) {
					if folded[string(name)] {
						return false // "dryrun", which encoding/json takes for dryRun
					}
				} else if !names[string(name)] {
					return false
				}
				h := uint64(14695981039346656037) // FNV-1a
				for _, b := range name {
					h = (h ^ uint64(b)) * 1099511628211
				}
				for _, k := range keys[starts[depth-1]:nkeys] {
					if k == h {
						return false // a name twice, or two names with one hash: walked to tell
					}
				}
				if nkeys-starts[depth-1] == maxPlainMembers || nkeys == len(keys) {
					return false
				}
				keys[nkeys] = h
				nkeys++
			}
			i = end
		}
	}
	return depth == 0
}
