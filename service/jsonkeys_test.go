package service

import (
	"encoding/json"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/api"
)

var evaluationsType = reflect.TypeFor[*api.AuthZENEvaluationsRequest]()

// TestPlainKeys: the one-pass check passes only bodies whose names are plain and unique in
// their objects; anything else is left to the walk.
func TestPlainKeys(t *testing.T) {
	names := fieldNames(evaluationsType)
	for body, want := range map[string]bool{
		`{"subject":{"type":"agent","id":"a"},"action":{"name":"read"}}`:        true,
		`{"context":{"userAgent":"x"},"a":[{"b":1},{"b":2}],"c":{"b":{"b":1}}}`: true,
		`{"s":"\"subject\":","subject":1}`:                                      true,
		`{"subject":1,"Subject":2}`:                                             false,
		`{"subject":1,"subject":2}`:                                             false,
		`{"a":{"x":1},"b":{"x":1},"a":3}`:                                       false,
		`{"\u0073ubject":1}`:                                                    false,
		`{"ſubject":1}`:                                                         false,
		`{"subject":{"type":"agent","id":"a"}`:                                  false,
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"s":19,"t":20,"u":21,"v":22,"w":23,"x":24,"y":25,"z":26,"aa":27,"ab":28,"ac":29,"ad":30,"ae":31,"af":32,"ag":33}`: false,
	} {
		if got := plainKeys([]byte(body), names.exact, names.folded); got != want {
			t.Errorf("plainKeys(%s) = %v, want %v", body, got, want)
		}
	}
}

// FuzzExactKeys: whatever the well-formed body, a body the one-pass check passes is one the walk would
// leave alone (no name twice, none taken for a field spelt otherwise), and the rewritten
// body of one it does not pass has no name encoding/json would fold.
func FuzzExactKeys(f *testing.F) {
	for _, s := range []string{
		`{"subject":{"type":"agent","id":"a"},"Subject":{},"evaluations":[{"resource":{"ID":"x","id":"y"}}]}`,
		`{"subject":1,"subject":2}`, `{"\u0053ubject":1,"ſubject":2,"context":{"userAgent":"u","UserAgent":"v"}}`,
		`{"options":{"evaluations_semantic":"execute_all"},"evaluations":[{},{}]}`, `[{"a":1}]`, `{"a":"\\"}`,
		`{"options":{"dryRun":false,"dryrun":true}}`, `{"context":{"userAgent":"B","useragent":"A"}}`,
	} {
		f.Add(s)
	}
	names := fieldNames(evaluationsType)
	f.Fuzz(func(t *testing.T, body string) {
		b := []byte(body)
		if !json.Valid(b) {
			return // encoding/json refuses it whatever its names
		}
		plain := plainKeys(b, names.exact, names.folded)
		out, err := exactKeys(b, evaluationsType)
		changed := err != nil || string(out) != body
		if plain && changed {
			t.Fatalf("plainKeys passed %q, which the walk changes (%q, %v)", body, out, err)
		}
		if err != nil {
			return
		}
		var objects []reflect.Type // the containers open around each event
		walkJSON(out, evaluationsType, func(e *jsonEvent) bool {
			switch {
			case e.key:
				if _, _, folded := fieldType(objects[len(objects)-1], e.tok.(string)); folded {
					t.Fatalf("%q rewritten as %q still has %s folded to a field", body, out, e.path())
				}
			case e.close:
				objects = objects[:len(objects)-1]
			case e.tok == json.Delim('{') || e.tok == json.Delim('['):
				objects = append(objects, container(e.typ))
			}
			return true
		})
	})
}

// TestExactKeysEdges: names are compared per object (a dotted name is not a path), a name
// folding to a camel-case field is made unknown, and the walk costs memory in proportion to
// the body however deeply it nests.
func TestExactKeysEdges(t *testing.T) {
	for body, want := range map[string]string{
		`{"subject":{"type":"agent","id":"a","properties":{"k8s.ns":"x","k8s":{"ns":"y"},"Region":"eu"}}}`: `{"subject":{"type":"agent","id":"a","properties":{"k8s.ns":"x","k8s":{"ns":"y"},"Region":"eu"}}}`,
		`{"options":{"dryRun":false,"dryrun":true}}`:                                                       `{"options":{"dryRun":false,"~dryrun":true}}`,
		`{"Subject":{"Type":"agent"},"evaluations":[{"Resource":{}}]}`:                                     `{"~Subject":{"~Type":"agent"},"evaluations":[{"~Resource":{}}]}`,
	} {
		got, err := exactKeys([]byte(body), evaluationsType)
		if err != nil || string(got) != want {
			t.Errorf("exactKeys(%s) = %s, %v; want %s", body, got, err, want)
		}
	}
	if _, err := exactKeys([]byte(`{"evaluations":[{},{"resource":{"id":"a","id":"b"}}]}`), evaluationsType); err == nil ||
		!strings.Contains(err.Error(), "twice") {
		t.Errorf("a duplicate inside an item: %v", err)
	}
	const depth = 20_000
	deep := []byte(`{"Subject":1,"context":` + strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth) + "}")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := exactKeys(deep, evaluationsType); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if used := after.TotalAlloc - before.TotalAlloc; used > 200*uint64(len(deep)) {
		t.Errorf("a body of %d bytes nested %d deep took %d bytes to walk", len(deep), depth, used)
	}
	// Past encoding/json's depth the walk stops: the body is refused when decoded.
	brackets := []byte(`{"a":` + strings.Repeat("[", 1<<20))
	runtime.ReadMemStats(&before)
	if out, err := exactKeys(brackets, evaluationsType); err != nil || len(out) != len(brackets) {
		t.Fatalf("1 MiB of brackets: %d bytes, %v", len(out), err)
	}
	runtime.ReadMemStats(&after)
	if used := after.TotalAlloc - before.TotalAlloc; used > 20*uint64(len(brackets)) {
		t.Errorf("1 MiB of brackets took %d bytes to walk", used)
	}
}
