package engine_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/internal/decisiontable"
)

var update = flag.Bool("update", false, "rewrite tests/rego/testdata/compiled.json from the decision table")

// The Rego tests cannot run Go, so the compiled form of the table's agents is checked in
// beside the table. This test fails when it is out of date: run
// go test ./engine -run TestCompiledTableIsCurrent -update
func TestCompiledTableIsCurrent(t *testing.T) {
	cases, err := decisiontable.Load()
	if err != nil {
		t.Fatal(err)
	}
	compiled := map[string]any{}
	for _, c := range cases {
		a := c.Agent()
		if a == nil {
			continue
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("case %s: invalid agent: %v", c.Name, err)
		}
		agentDoc, grantsDoc := engine.Compile(a)
		compiled[c.Name] = map[string]any{"agent": agentDoc, "grants": grantsDoc}
	}
	got, err := json.MarshalIndent(map[string]any{"compiled": compiled}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(decisiontable.CompiledPath(), got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(decisiontable.CompiledPath())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date (%v): run go test ./engine -run TestCompiledTableIsCurrent -update", decisiontable.CompiledPath(), err)
	}
}
