package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/kavachos/kavach-go/policies"
)

// TestResult is the outcome of one Rego test.
type TestResult struct {
	Package string
	Name    string
	Pass    bool
	Error   error
	Output  string
}

// RunPolicyTests runs the Rego tests (test_* rules) found in paths against the embedded
// policies plus the Rego and data files in paths, as `opa test` would.
func RunPolicyTests(ctx context.Context, paths []string) ([]TestResult, error) {
	loaded, err := loader.NewFileLoader().All(paths)
	if err != nil {
		return nil, fmt.Errorf("load %v: %w", paths, err)
	}
	mods, err := policies.Modules()
	if err != nil {
		return nil, err
	}
	modules := map[string]*ast.Module{}
	for _, m := range mods {
		parsed, err := ast.ParseModuleWithOpts(m.Name, m.Source, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, err
		}
		modules[m.Name] = parsed
	}
	for name, f := range loaded.Modules {
		modules[name] = f.Parsed
	}
	store := inmem.NewFromObject(loaded.Documents)
	runner := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithEnablePrintStatements(true)).
		SetStore(store).
		SetModules(modules).
		EnableTracing(false)
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, err
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{Package: r.Package, Name: r.Name, Pass: r.Pass(), Output: string(r.Output)}
		if r.Error != nil {
			tr.Error = r.Error
		} else if r.Fail {
			tr.Error = fmt.Errorf("failed")
		}
		out = append(out, tr)
	}
	return out, nil
}

// WriteTestReport prints results like `opa test` and returns pass and fail counts.
func WriteTestReport(w io.Writer, results []TestResult, verbose bool) (passed, failed int) {
	for _, r := range results {
		status := "PASS"
		if !r.Pass {
			status = "FAIL"
			failed++
		} else {
			passed++
		}
		if verbose || !r.Pass {
			fmt.Fprintf(w, "%s: %s.%s\n", status, r.Package, r.Name)
			if r.Error != nil && r.Error.Error() != "failed" {
				fmt.Fprintf(w, "  %v\n", r.Error)
			}
			if r.Output != "" && !r.Pass {
				fmt.Fprintf(w, "  %s\n", r.Output)
			}
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return passed, failed
}
