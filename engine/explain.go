package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"
)

// Explain modes, as in `opa eval --explain`.
const (
	ExplainFull  = "full"
	ExplainNotes = "notes"
	ExplainFails = "fails"
)

// Explain evaluates the policy for req without carrying out obligations and writes the
// evaluation trace to w: which rules were evaluated and which failed. It returns the
// policy's decision document.
func (e *Engine) Explain(ctx context.Context, req Request, mode string, w io.Writer) (any, error) {
	filter, ok := map[string]func([]*topdown.Event) []*topdown.Event{
		ExplainFull: lineage.Full, ExplainNotes: lineage.Notes, ExplainFails: lineage.Fails,
	}[mode]
	if !ok {
		return nil, fmt.Errorf("explain mode %q: want full, notes or fails", mode)
	}
	input, err := buildInput(req)
	if err != nil {
		return nil, err
	}
	tracer := topdown.NewBufferTracer()
	rs, _, err := e.evaluate(ctx, nil, input, rego.EvalQueryTracer(tracer))
	if err != nil {
		return nil, err
	}
	topdown.PrettyTraceWithLocation(w, filter(*tracer))
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, nil
	}
	return rs[0].Expressions[0].Value, nil
}
