package service

import (
	"encoding/json"
	"reflect"
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
	// The names of each open object: the first, and the others once there is a second.
	type objectNames struct {
		first  string
		named  bool
		others map[string]bool
	}
	var (
		objects []objectNames
		out     []byte
		from    int
		err     error
	)
	walkJSON(body, root, func(e *jsonEvent) bool {
		switch {
		case e.key:
			o, k := &objects[len(objects)-1], e.tok.(string)
			switch {
			case !o.named:
				o.first, o.named = k, true
			case k == o.first || o.others[k]:
				err = invalidMember(e.path())
				return false
			case o.others == nil:
				o.others = map[string]bool{k: true}
			default:
				o.others[k] = true
			}
			if e.folded {
				at := e.at + 1 // just inside the name's quote
				out = append(append(out, body[from:at]...), '~')
				from = at
			}
		case e.tok == json.Delim('{') && !e.close:
			objects = append(objects, objectNames{})
		case e.tok == json.Delim('{'):
			objects = objects[:len(objects)-1]
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return body, nil
	}
	return append(out, body[from:]...), nil
}

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
