package service

import (
	"encoding/json"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/api"
)

// TestBadText: a string is refused exactly when encoding/json would not keep it as sent.
func TestBadText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body, path string
	}{
		{`{"a":"plain","b":["x","y"]}`, ""},
		{`{"a":"\ud83d\ude00 pair","b":"\u00e9"}`, ""},
		{`{"a":"\\ud800 is a backslash and text"}`, ""},
		{`{"a":"\ud800"}`, "a"},
		{`{"a":"\udc00\ud800"}`, "a"},
		{`{"a":"\ud83d\u0041"}`, "a"},
		{`{"a":"x\ud83d"}`, "a"},
		{`{"a":{"b":[1,{"c":"\udfff"}]}}`, "a.b[1].c"},
		{"{\"a\":[\"ok\",\"\xff\"]}", "a[1]"},
		{"{\"k\xc3\":1}", "k\uFFFD"},
		{"\"\xff\"", "body"},
	}
	for _, tc := range cases {
		path, found := badText([]byte(tc.body))
		if found != (tc.path != "") || path != tc.path {
			t.Errorf("%q: %q %v, want %q", tc.body, path, found, tc.path)
		}
		// badText agrees with what encoding/json does to the strings.
		if tc.path == "" {
			var v any
			if err := json.Unmarshal([]byte(tc.body), &v); err != nil {
				t.Fatalf("%q: %v", tc.body, err)
			}
		}
	}
	// surrogateEscape only decides whether the exact walk is needed: an escaped backslash
	// before "ud800" sends a body there too.
	for body, want := range map[string]bool{
		`"\ud83d"`: true, `"\uDC00"`: true, `"\u00e9"`: false, `"\ud7ff"`: false, `"ab\u"`: false, `"\\ud800"`: true, `"x"`: false,
	} {
		if got := surrogateEscape([]byte(body)); got != want {
			t.Errorf("surrogateEscape(%s) = %v", body, got)
		}
	}
}

// TestLocate: the full path of an unknown field and of a value of the wrong type.
func TestLocate(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[*api.CreateAgentRequest]()
	cases := []struct {
		body, unknown, bad string
	}{
		{`{"name":"n","permissions":[{"resource":"a","actions":["b"]},{"resource":"a","actions":["b"],"constraints":{"rateLimt":{}}}]}`,
			"permissions[1].constraints.rateLimt", ""},
		{`{"NAME":"n","ownerid":"o"}`, "", ""},
		{`{"name":"n","metadata":{"k":1}}`, "", "metadata.k"},
		{`{"expiresAt":"soon","x":{"y":[1]}}`, "x", "expiresAt"},
		{`{"permissions":[{"actions":[1],"constraints":{"timeWindows":[{"days":"mon"}]}}]}`, "", "permissions[0].actions[0]"},
		{`{"permissions":[{"constraints":{"rateLimit":{"window":{}}}}]}`, "", "permissions[0].constraints.rateLimit.window"},
		{`{"permissions":{"resource":"a"}}`, "", "permissions"},
	}
	for _, tc := range cases {
		f := locate([]byte(tc.body), typ)
		if f.unknown != tc.unknown || f.bad != tc.bad {
			t.Errorf("%s: unknown %q bad %q, want %q %q", tc.body, f.unknown, f.bad, tc.unknown, tc.bad)
		}
	}
}

// TestWalkJSONDeep: the walks behind badText and locate cost memory in proportion to the
// body however deeply it nests, so that a hostile body cannot make a 400 expensive. A path
// is built only for what is reported; building one for every token costs the square of the
// depth.
func TestWalkJSONDeep(t *testing.T) {
	const depth = 9_000 // within encoding/json's limit
	nested := func(inner string) []byte {
		return []byte(`{"name":` + strings.Repeat("[", depth) + inner + strings.Repeat("]", depth) + `}`)
	}
	within := func(name string, body []byte, walk func()) {
		t.Helper()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		walk()
		runtime.ReadMemStats(&after)
		if used := after.TotalAlloc - before.TotalAlloc; used > 200*uint64(len(body)) {
			t.Errorf("%s: a body of %d bytes nested %d deep took %d bytes to walk", name, len(body), depth, used)
		}
	}
	bad := nested("\"\xff\"")
	within("badText", bad, func() {
		if path, found := badText(bad); !found || !strings.HasPrefix(path, "name[0][0]") {
			t.Errorf("badText: %.40q %v", path, found)
		}
	})
	mistyped := nested("1")
	within("locate", mistyped, func() {
		if f := locate(mistyped, reflect.TypeFor[*api.CreateAgentRequest]()); f.bad != "name" {
			t.Errorf("locate: %+v", f)
		}
	})
	// Past encoding/json's depth the walk stops: it refuses the body when decoding it.
	brackets := []byte(`{"a":` + strings.Repeat("[", 1<<20) + "\"\xff\"")
	within("1 MiB of brackets", brackets, func() { badText(brackets) })
}
