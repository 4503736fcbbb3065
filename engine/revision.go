package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/kavachos/kavach-go/api"
)

// Outcome is what a revision's policy answers for a call before obligations are carried
// out: nothing is charged, opened or read from the store, so two revisions can be compared
// on the same call. Code is the code Decide would report if no rate limit were exhausted
// and no approval were on record: ALLOWED, APPROVAL_REQUIRED when every grant that
// matches is behind a human approval gate, or a denial.
type Outcome struct {
	Code   api.DecisionCode `json:"code"`
	Reason string           `json:"reason,omitempty"`
	// Grant is the grant that allows (or that the approval would unlock).
	Grant string `json:"grant,omitempty"`
}

// Active returns the active revision.
func (e *Engine) Active() *Revision { return e.active.Load() }

// Evaluate answers req under rev (nil: the active revision) without side effects.
// req.TenantID and req.OwnerID are not applied: an evaluation sees every agent. An
// internal error is returned, not folded into an ENGINE_ERROR outcome.
func (e *Engine) Evaluate(ctx context.Context, rev *Revision, req Request) (Outcome, error) {
	p, _, err := e.evalPure(ctx, rev, req)
	if err != nil {
		return Outcome{}, err
	}
	return outcomeOf(p, req), nil
}

// outcomeOf reads the policy's answer as an Outcome.
func outcomeOf(p *pure, req Request) Outcome {
	switch p.Code {
	case api.Allowed:
		// The grant settle would try first when nothing is on record: one without
		// obligations, else one without an approval gate, else the first.
		pick := slices.IndexFunc(p.Candidates, func(c candidate) bool { return len(c.Rate) == 0 && c.Approval == nil })
		if pick < 0 {
			pick = slices.IndexFunc(p.Candidates, func(c candidate) bool { return c.Approval == nil })
		}
		if pick < 0 {
			return Outcome{Code: api.ApprovalRequired, Reason: reasonFor(api.ApprovalRequired, req), Grant: p.Candidates[0].ID}
		}
		return Outcome{Code: api.Allowed, Reason: reasonFor(api.Allowed, req), Grant: p.Candidates[pick].ID}
	case api.PolicyDenied:
		code, reason := policyDenial(p.Deny)
		return Outcome{Code: code, Reason: reason}
	}
	return Outcome{Code: p.Code, Reason: reasonFor(p.Code, req)}
}

// hooksQuery counts what a revision's custom deny and require_approval rules give for an
// input; a revision may define either, both or neither.
const hooksQuery = `sum([n | n := count(data.kavach.custom.deny)]) + sum([n | n := count(data.kavach.custom.require_approval)])`

// Compare answers req under two revisions, as a replay needs, through m (nil: remember
// nothing). The embedded policy reads a revision's custom rules only through their deny and
// require_approval results, so when neither revision's hold for the call the two answers
// are one: the candidate is evaluated, and the active revision only as far as its custom
// hooks, or in full when they hold (or the candidate's did). An evaluation that fails is
// the ENGINE_ERROR it would be.
func (e *Engine) Compare(ctx context.Context, m *Memo, active, candidate *Revision, req Request) (was, now Outcome) {
	if active == nil {
		active = e.active.Load()
	}
	var mm *memo
	if m != nil {
		mm = m.m
	}
	judge := func(rev *Revision) (*pure, Outcome) {
		p, _, err := e.pureThrough(ctx, mm, rev, req)
		if err != nil {
			return nil, Outcome{Code: api.EngineError, Reason: err.Error()}
		}
		return p, outcomeOf(p, req)
	}
	pc, now := judge(candidate)
	if pc != nil && pc.Code != api.PolicyDenied && !pc.CustomApproval && !e.hooksHeld(ctx, active, req) {
		return now, now
	}
	_, was = judge(active)
	return was, now
}

// hooksHeld reports whether a revision's custom deny or require_approval rules give
// anything for req; true when that cannot be told (the full evaluation then decides).
func (e *Engine) hooksHeld(ctx context.Context, rev *Revision, req Request) bool {
	if rev.hooks == nil {
		return false
	}
	input, err := buildInput(req)
	if err != nil {
		return true
	}
	rs, err := e.run(ctx, *rev.hooks, input)
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return true
	}
	n, ok := rs[0].Expressions[0].Value.(json.Number)
	return !ok || n != "0"
}

// Rule is a custom rule that held for a call: a deny or require_approval rule of package
// kavach.custom, the only rules through which a revision can change an answer.
type Rule struct {
	// Name is the rule's head, e.g. "deny contains msg".
	Name string `json:"rule"`
	// Location is file:row of the rule.
	Location string `json:"location"`
}

func (r Rule) String() string { return r.Location + ": " + r.Name }

// customHooks are the rules of package kavach.custom the embedded policy consults.
var customHooks = map[string]bool{"deny": true, "require_approval": true}

// Rules evaluates req under rev (nil: the active revision) with a trace and returns the
// custom deny and require_approval rules that held, in the order the policy met them.
func (e *Engine) Rules(ctx context.Context, rev *Revision, req Request) ([]Rule, error) {
	input, err := buildInput(req)
	if err != nil {
		return nil, err
	}
	tracer := topdown.NewBufferTracer()
	if _, _, err := e.evaluate(ctx, rev, input, rego.EvalQueryTracer(tracer)); err != nil {
		return nil, err
	}
	return heldRules(*tracer), nil
}

// heldRules picks from a trace the custom hook rules whose bodies succeeded.
func heldRules(trace []*topdown.Event) []Rule {
	var out []Rule
	seen := map[string]bool{}
	for _, ev := range trace {
		if ev.Op != topdown.ExitOp {
			continue
		}
		r, ok := ev.Node.(*ast.Rule)
		if !ok || r.Module == nil || !customHooks[r.Head.Name.String()] || !inCustom(r.Module.Package) {
			continue
		}
		rule := Rule{Name: headText(r), Location: fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)}
		if !seen[rule.Location] {
			seen[rule.Location] = true
			out = append(out, rule)
		}
	}
	return out
}

func inCustom(pkg *ast.Package) bool {
	path := strings.TrimPrefix(pkg.Path.String(), "data.")
	return path == "kavach.custom" || strings.HasPrefix(path, "kavach.custom.") && !strings.HasSuffix(path, "_test")
}

// headText is the rule's head as written, without its body: "deny contains msg".
func headText(r *ast.Rule) string {
	if r.Location != nil && len(r.Location.Text) > 0 {
		text := string(r.Location.Text)
		if i := strings.Index(text, " if "); i > 0 {
			text = text[:i]
		} else if i := strings.IndexAny(text, "{\n"); i > 0 {
			text = text[:i]
		}
		return strings.TrimSpace(text)
	}
	return r.Head.String()
}

// Has reports whether the engine holds the agent (revoked and expired agents included).
func (e *Engine) Has(agentID string) bool { return e.agents.get(agentID) != nil }
