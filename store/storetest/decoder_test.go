package storetest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
)

// decoderCases are permission documents as EncodePermissions writes them, as Postgres
// renders them from jsonb, and as neither would: each must decode exactly as
// encoding/json decodes it, error or not.
func decoderCases(t testing.TB) []string {
	rich, err := store.EncodePermissions(NewAgent(agent.DefaultTenant, "user_1").Permissions)
	if err != nil {
		t.Fatal(err)
	}
	perms := dataset.Permissions()
	agent.AssignPermissionIDs(nil, perms)
	bench, err := store.EncodePermissions(perms)
	if err != nil {
		t.Fatal(err)
	}
	escaped, err := store.EncodePermissions([]agent.Permission{{ID: "perm_1", Resource: `a"b\c<d>&é☃`, Actions: []string{"\u2028\t\n"},
		Constraints: &agent.Constraints{ArgumentPatterns: map[string]string{"path": `^/v1/\d+$`, "q": "<&>"}}}})
	if err != nil {
		t.Fatal(err)
	}
	// Every kind of byte that ends a run of plain ones, at every offset in a word.
	var offsets []string
	for k := range 17 {
		for _, special := range []string{`\"`, `\\`, `\u00e9`, "é", "\x01", "\xff", `"`} {
			offsets = append(offsets, `[{"id":"`+strings.Repeat("a", k)+special+strings.Repeat("b", 9)+`","resource":"r"}]`)
		}
	}
	return append(offsets,
		rich, bench, escaped, "[]", "null", " [ ] ",
		// jsonb's rendering: keys by length, spaces after separators.
		`[{"id": "perm_1", "actions": ["read", "write"], "resource": "mcp:*", "constraints": {"rateLimit": {"max": 10, "window": "1m0s"}, "ipAllowlist": ["10.0.0.0/8"], "timeWindows": [{"end": "06:00", "days": ["mon"], "start": "22:00", "timezone": "UTC"}], "approval": {"ttl": "1h0m0s", "required": true, "approvers": ["u"]}, "argumentPatterns": {"b": "x"}}}]`,
		`[{"id":"p","resource":"r","actions":[],"constraints":{}}]`,
		`[{"id":null,"resource":null,"actions":null,"constraints":null}]`,
		`[{"id":"p","constraints":{"rateLimit":null,"timeWindows":null,"ipAllowlist":null,"argumentPatterns":null,"approval":null}}]`,
		`[{"id":"p","constraints":{"rateLimit":{"max":null,"window":"1s"},"approval":{"required":null,"ttl":"2s"}}}]`,
		`[{"id":"\ud83d\ude00 \u00e9 \/"}]`,
		`[{"ID":"p","Resource":"r"}]`, // keys in another case
		`[{"id":"p","extra":1}]`,      // unknown key
		`[{"id":"p","id":"q"}]`,       // repeated key
		`[{"id":"p","constraints":{"argumentPatterns":{"a":"1","a":"2"}}}]`,
		`[{"id":"\ud800"}]`,   // lone surrogate
		"[{\"id\":\"\xff\"}]", // invalid UTF-8
		`[{"id":"p","constraints":{"rateLimit":{"max":1.5,"window":"1s"}}}]`,
		`[{"id":"p","constraints":{"rateLimit":{"max":012,"window":"1s"}}}]`,
		`[{"id":"p","constraints":{"rateLimit":{"max":1e3,"window":"1s"}}}]`,
		`[{"id":"p","constraints":{"rateLimit":{"max":-3,"window":"soon"}}}]`,
		`[{"id":"p","constraints":{"rateLimit":{"max":99999999999999999999}}}]`,
		`[{"id":"p","constraints":{"approval":{"ttl":null}}}]`,
		`[{"id":"p","actions":[null]}]`,
		`[{"id":"p","actions":["a",]}]`,
		`[{"id":"p"}] x`, `[{"id":"p"`, `[{"id":"p\`, `{}`, `"x"`, ``, `[1]`, `[{"id":tru}]`,
	)
}

func TestAgentDecoderAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, doc := range decoderCases(t) {
		checkDecoder(t, doc)
	}
}

func FuzzAgentDecoder(f *testing.F) {
	for _, doc := range decoderCases(f) {
		f.Add(doc)
	}
	f.Fuzz(checkDecoder)
}

func checkDecoder(t *testing.T, doc string) {
	var want []agent.Permission
	wantErr := json.Unmarshal([]byte(doc), &want)
	for _, dec := range []*store.AgentDecoder{new(store.AgentDecoder), store.NewAgentDecoder()} {
		var got []agent.Permission
		err := dec.DecodePermissions(doc, &got)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("%q: error %v, encoding/json says %v", doc, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got  %#v\n want %#v", doc, got, want)
		}
	}
	checkMetadata(t, strings.ReplaceAll(doc, "[", "{"))
}

func TestAgentDecoderMetadata(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{`{}`, `null`, `{"team":"platform"}`, `{"team": "a", "b\u00e9": "\"x\""}`,
		`{"k":"1","k":"2"}`, `{"k":null}`, `{"k":1}`, `{"k":"v"`, `[]`} {
		checkMetadata(t, doc)
	}
}

func checkMetadata(t *testing.T, meta string) {
	var wantMeta, gotMeta map[string]string
	wantErr := json.Unmarshal([]byte(meta), &wantMeta)
	a := &agent.Agent{ID: "agt_x"}
	err := store.DecodeAgentDocs(a, store.AgentDocs{Permissions: "[]", Metadata: meta})
	gotMeta = a.Metadata
	if len(wantMeta) == 0 {
		wantMeta = nil
	}
	if (err == nil) != (wantErr == nil) || (err == nil && !reflect.DeepEqual(gotMeta, wantMeta)) {
		t.Fatalf("metadata %q: %v %v, encoding/json says %v %v", meta, gotMeta, err, wantMeta, wantErr)
	}
}

// The interning decoder shares repeated strings between agents, and never a slice.
func TestAgentDecoderSharesStringsNotSlices(t *testing.T) {
	t.Parallel()
	perms := dataset.Permissions()
	agent.AssignPermissionIDs(nil, perms)
	doc, err := store.EncodePermissions(perms)
	if err != nil {
		t.Fatal(err)
	}
	dec := store.NewAgentDecoder()
	var a, b []agent.Permission
	if err := dec.DecodePermissions(doc, &a); err != nil {
		t.Fatal(err)
	}
	if err := dec.DecodePermissions(doc, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, perms) {
		t.Fatalf("decoded %#v, want %#v", a, perms)
	}
	if unsafe.StringData(a[0].Resource) != unsafe.StringData(b[0].Resource) {
		t.Error("a repeated resource was not shared")
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(doc)))
	for _, p := range a {
		if at := uintptr(unsafe.Pointer(unsafe.StringData(p.ID))); at >= start && at < start+uintptr(len(doc)) {
			t.Fatal("a decoded id points into the document")
		}
	}
	b[0].Actions[0] = "changed"
	if a[0].Actions[0] == "changed" {
		t.Error("two agents share an actions slice")
	}
}

// BenchmarkDecodePermissions decodes the benchmark data set's ten permissions, with the
// interning decoder a walk over every agent uses and with encoding/json.
func BenchmarkDecodePermissions(b *testing.B) {
	perms := dataset.Permissions()
	agent.AssignPermissionIDs(nil, perms)
	doc, err := store.EncodePermissions(perms)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decoder", func(b *testing.B) {
		dec := store.NewAgentDecoder()
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			var got []agent.Permission
			if err := dec.DecodePermissions(doc, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			var got []agent.Permission
			if err := json.Unmarshal([]byte(doc), &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}
