package service

import (
	"reflect"
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
// types, and unique within their objects, is returned as it is without being walked.
func exactKeys(body []byte, root reflect.Type) ([]byte, error) {
	if plainKeys(body, fieldNames(root)) {
		return body, nil
	}
	var (
		out     []byte
		from    int
		seen    = map[string]bool{}
		invalid error
	)
	walkJSON(body, root, func(e *jsonEvent) bool {
		if !e.key {
			return true
		}
		if seen[e.path] {
			invalid = invalidMember(e.path)
			return false
		}
		seen[e.path] = true
		if e.fold {
			at := cap(body) - cap(e.raw) + 1 // just inside the name's opening quote (raw is a part of body)
			out = append(append(out, body[from:at]...), '~')
			from = at
		}
		return true
	})
	if invalid != nil {
		return nil, invalid
	}
	if out == nil {
		return body, nil
	}
	return append(out, body[from:]...), nil
}

func invalidMember(path string) error {
	return invalid(path, "the member appears twice in its object: member names must be unique")
}

// fieldNames lists the JSON names of the fields of the structs reachable from t that are
// not plain lower-case ASCII (such as "userAgent"), which plainKeys accepts as they are.
func fieldNames(t reflect.Type) map[string]bool {
	if v, ok := fieldNameSets.Load(t); ok {
		return v.(map[string]bool)
	}
	names := map[string]bool{}
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
					names[f.name] = true
				}
				visit(f.typ)
			}
		}
	}
	visit(t)
	fieldNameSets.Store(t, names)
	return names
}

var fieldNameSets sync.Map // reflect.Type → map[string]bool

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
// is plain (plainName) or one of names, and no object has a name twice. It answers false
// when it cannot tell cheaply: an object with more than maxPlainMembers members, or a body
// that is not well-formed (encoding/json reports that).
func plainKeys(body []byte, names map[string]bool) bool {
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
				if !plainName(name) && !names[string(name)] {
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
