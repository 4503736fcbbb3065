package engine_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/internal/decisiontable"
)

// TestRegoTests runs tests/rego with OPA's tester, as `kavach policy test` does.
func TestRegoTests(t *testing.T) {
	dir := filepath.Dir(filepath.Dir(decisiontable.Path()))
	example := filepath.Join(dir, "..", "..", "bundles", "example")
	results, err := engine.RunPolicyTests(context.Background(), []string{dir, example})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 10 {
		t.Fatalf("only %d Rego tests ran", len(results))
	}
	var b strings.Builder
	_, failed := engine.WriteTestReport(&b, results, false)
	if failed > 0 {
		t.Fatalf("Rego tests failed:\n%s", b.String())
	}
}
