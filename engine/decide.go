package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/telemetry"
)

// Request is one call to decide.
type Request struct {
	AgentID string
	// TenantID and OwnerID, when set, restrict the decision to agents of that tenant and
	// owner: any other agent is AGENT_NOT_FOUND, before anything is charged.
	TenantID  string
	OwnerID   string
	Action    string
	Resource  string
	Arguments map[string]any
	IP        string
	Now       time.Time
	// DryRun answers the same question without side effects: no rate slot is taken and
	// no approval request is opened.
	DryRun bool
}

// Result is a decision.
type Result struct {
	Allowed    bool
	Code       api.DecisionCode
	Reason     string
	Grant      string
	Via        []string
	ApprovalID string
	RetryAfter time.Duration
	// TenantID and OwnerID are the agent's, when it was found.
	TenantID string
	OwnerID  string
	// Revision is the policy revision that decided.
	Revision string
	// Err is the internal error behind an ENGINE_ERROR, for logs; never shown to callers.
	Err error
}

// pure is what the policy decided before obligations.
type pure struct {
	Code  api.DecisionCode `json:"code"`
	Agent struct {
		Tenant string `json:"tenant"`
		Owner  string `json:"owner"`
	} `json:"agent"`
	Candidates []candidate  `json:"candidates"`
	Deny       []customDeny `json:"deny"`
	// CustomApproval: a custom require_approval rule held for an allowed call.
	CustomApproval bool `json:"customApproval,omitempty"`
}

type candidate struct {
	ID       string        `json:"id"`
	Rate     []rateLimit   `json:"rate"`
	Approval *approvalGate `json:"approval"`
	Via      []string      `json:"via"`
}

type rateLimit struct {
	Key      string `json:"key"`
	Max      int    `json:"max"`
	WindowNS int64  `json:"window_ns"`
}

// approvalGate is a permission's approval requirement. Owner is the owner of the agent
// whose permission carries the gate: they (or a listed approver, or an admin) decide, even
// when the call comes through a delegation to someone else's agent.
type approvalGate struct {
	TTLNS     int64    `json:"ttl_ns"`
	Approvers []string `json:"approvers"`
	Owner     string   `json:"owner"`
}

type customDeny struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Errors behind an ENGINE_ERROR that are not failures of the engine's parts. Result.Err
// wraps them; test with errors.Is.
var (
	// ErrDeadline: the policy evaluation ran past Config.DecisionTimeout.
	ErrDeadline = errors.New("the decision ran past its deadline")
	// ErrCallerGone: the caller's context ended (cancelled, or past the caller's own
	// deadline) before the decision was made. The decision still fails closed; it says
	// nothing about the engine's health.
	ErrCallerGone = errors.New("the caller went away before the decision was made")
)

// Decide evaluates a request and carries out its obligations. It never panics and never
// allows on an internal error: any failure, a recovered panic included, is ENGINE_ERROR.
// The policy evaluation runs under Config.DecisionTimeout.
func (e *Engine) Decide(ctx context.Context, req Request) (res Result) {
	ctx, span := telemetry.Start(ctx, "kavach.engine.decide")
	defer func() {
		if r := recover(); r != nil {
			res = engineError(fmt.Errorf("panic: %v", r))
		}
		if span.IsRecording() {
			traced(span, res)
		}
		span.End()
	}()
	if err := ctx.Err(); err != nil {
		return callerGone(err)
	}
	p, revision, err := e.pureOf(ctx, req)
	if err != nil {
		res = engineError(err)
		res.Revision = revision
		return res
	}
	defer func() { res.Revision = revision }()
	if s := e.shadow.Load(); s != nil {
		s.offer(req, p, revision)
	}
	res = Result{Code: p.Code, TenantID: p.Agent.Tenant, OwnerID: p.Agent.Owner}
	if p.Code != api.AgentNotFound && !visible(req, p) {
		return Result{Code: api.AgentNotFound, Reason: reasonFor(api.AgentNotFound, req)}
	}
	switch p.Code {
	case api.Allowed:
		res = e.settle(ctx, req, p)
		if res.Code == api.EngineError && ctx.Err() != nil {
			res = callerGone(fmt.Errorf("%w (%w)", res.Err, ctx.Err()))
		}
		res.TenantID, res.OwnerID = p.Agent.Tenant, p.Agent.Owner
	case api.PolicyDenied:
		res.Code, res.Reason = policyDenial(p.Deny)
	default:
		res.Reason = reasonFor(p.Code, req)
	}
	return res
}

// traced puts a decision's outcome on its span: the revision, the code and the grant,
// never the call's arguments.
func traced(span trace.Span, res Result) {
	span.SetAttributes(attribute.String("kavach.policy.revision", res.Revision),
		attribute.String("kavach.decision.code", string(res.Code)), attribute.Bool("kavach.decision.allowed", res.Allowed))
	if res.Grant != "" {
		span.SetAttributes(attribute.String("kavach.grant", res.Grant))
	}
	telemetry.Failed(span, res.Err, failure(res.Err))
}

// failure names a failed decision's kind for its span; the error's own text stays in the
// log, since a policy evaluation's error can quote its input.
func failure(err error) string {
	switch {
	case errors.Is(err, ErrDeadline):
		return ErrDeadline.Error()
	case errors.Is(err, ErrCallerGone):
		return ErrCallerGone.Error()
	}
	return "the decision failed closed"
}

func visible(req Request, p *pure) bool {
	return (req.TenantID == "" || req.TenantID == p.Agent.Tenant) &&
		(req.OwnerID == "" || req.OwnerID == p.Agent.Owner)
}

// evalPure runs a revision's policy (nil: the active one) and decodes its answer, naming
// the revision that gave it.
func (e *Engine) evalPure(ctx context.Context, rev *Revision, req Request) (*pure, string, error) {
	if rev == nil {
		rev = e.active.Load()
	}
	input, err := buildInputFor(rev, req)
	if err != nil {
		return nil, "", err
	}
	ctx, span := telemetry.Start(ctx, "kavach.engine.evaluate")
	rs, revision, err := e.evaluate(ctx, rev, input, generateAST)
	telemetry.Failed(span, err, failure(err))
	span.End()
	if err != nil {
		return nil, revision, fmt.Errorf("evaluate: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, revision, errors.New("evaluate: the policy produced no decision")
	}
	t, _ := rs[0].Expressions[0].Value.(*ast.Term)
	if t == nil {
		return nil, revision, errors.New("decode decision: not a term")
	}
	p, err := decodePure(t.Value)
	return p, revision, err
}

// keepAST leaves the decision as OPA computed it: decodePure reads it directly, which saves
// converting it to Go maps on every call.
func keepAST(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// generateAST is the option that applies keepAST, made once.
var generateAST = rego.EvalGenerateJSON(keepAST)

// Keys of the decision document.
var (
	outCode           = ast.InternedTerm("code")
	outAgent          = ast.InternedTerm("agent")
	outCandidates     = ast.InternedTerm("candidates")
	outDeny           = ast.InternedTerm("deny")
	outCustomApproval = ast.InternedTerm("custom_approval")
	outReason         = ast.InternedTerm("reason")
	outTTLNS          = ast.InternedTerm("ttl_ns")
	outApprovers      = ast.InternedTerm("approvers")
	outKey            = ast.InternedTerm("key")
	outMax            = ast.InternedTerm("max")
	outWindowNS       = ast.InternedTerm("window_ns")
)

// decodePure reads the policy's decision document.
func decodePure(v ast.Value) (*pure, error) {
	m, ok := v.(ast.Object)
	if !ok {
		return nil, errors.New("decode decision: not an object")
	}
	p := &pure{Code: api.DecisionCode(str(m.Get(outCode)))}
	if p.Code == "" {
		return nil, errors.New("decode decision: no code")
	}
	if who := object(m.Get(outAgent)); who != nil {
		p.Agent.Tenant, p.Agent.Owner = str(who.Get(keyTenant)), str(who.Get(keyOwner))
	}
	for _, c := range list(m.Get(outCandidates)) {
		cm := object(c)
		if cm == nil {
			return nil, errors.New("decode decision: malformed candidate")
		}
		cand := candidate{ID: str(cm.Get(keyID)), Via: strs(cm.Get(keyVia))}
		for _, r := range list(cm.Get(keyRate)) {
			if rm := object(r); rm != nil {
				cand.Rate = append(cand.Rate, rateLimit{Key: str(rm.Get(outKey)), Max: int(num(rm.Get(outMax))), WindowNS: num(rm.Get(outWindowNS))})
			}
		}
		if am := object(cm.Get(keyApproval)); am != nil {
			cand.Approval = &approvalGate{TTLNS: num(am.Get(outTTLNS)), Approvers: strs(am.Get(outApprovers)), Owner: str(am.Get(keyOwner))}
		}
		p.Candidates = append(p.Candidates, cand)
	}
	if len(list(m.Get(outCustomApproval))) > 0 {
		p.CustomApproval = true
		for i := range p.Candidates {
			if p.Candidates[i].Approval == nil {
				p.Candidates[i].Approval = &approvalGate{}
			}
		}
	}
	for _, d := range list(m.Get(outDeny)) {
		if dm := object(d); dm != nil {
			p.Deny = append(p.Deny, customDeny{Code: str(dm.Get(outCode)), Reason: str(dm.Get(outReason))})
		}
	}
	return p, nil
}

func object(t *ast.Term) ast.Object {
	if t == nil {
		return nil
	}
	o, _ := t.Value.(ast.Object)
	return o
}

func str(t *ast.Term) string {
	if t == nil {
		return ""
	}
	s, _ := t.Value.(ast.String)
	return string(s)
}

func list(t *ast.Term) []*ast.Term {
	if t == nil {
		return nil
	}
	a, ok := t.Value.(*ast.Array)
	if !ok {
		return nil
	}
	out := make([]*ast.Term, a.Len())
	for i := range out {
		out[i] = a.Elem(i)
	}
	return out
}

func strs(t *ast.Term) []string {
	l := list(t)
	if len(l) == 0 {
		return nil
	}
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = str(x)
	}
	return out
}

func num(t *ast.Term) int64 {
	if t == nil {
		return 0
	}
	n, ok := t.Value.(ast.Number)
	if !ok {
		return 0
	}
	i, _ := n.Int64()
	return i
}

// Input keys, shared by every input built.
var (
	inAgentID   = ast.InternedTerm("agent_id")
	inAction    = ast.InternedTerm("action")
	inResource  = ast.InternedTerm("resource")
	inSegs      = ast.InternedTerm("segs")
	inN         = ast.InternedTerm("n")
	inArguments = ast.InternedTerm("arguments")
	inNowNS     = ast.InternedTerm("now_ns")
	inIP        = ast.InternedTerm("ip")
	inLongArgs  = ast.InternedTerm("long_args")
)

// buildInputFor makes the input rev's policy reads: the resource's segments are left out
// when no custom rule could read them.
func buildInputFor(rev *Revision, req Request) (ast.Value, error) {
	return makeInput(req, rev.hooks != nil)
}

// buildInput makes the policy's input directly as an AST value: no JSON round trip.
func buildInput(req Request) (ast.Value, error) { return makeInput(req, true) }

func makeInput(req Request, withSegs bool) (ast.Value, error) {
	args := ast.InternedEmptyObject
	if len(req.Arguments) > 0 {
		v, err := ast.InterfaceToValue(req.Arguments)
		if err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		if _, ok := v.(ast.Object); ok {
			args = ast.NewTerm(v)
		}
	}
	terms := make([][2]*ast.Term, 5, 9)
	terms[0] = [2]*ast.Term{inAgentID, ast.StringTerm(req.AgentID)}
	terms[1] = [2]*ast.Term{inAction, ast.StringTerm(req.Action)}
	terms[2] = [2]*ast.Term{inResource, ast.StringTerm(req.Resource)}
	terms[3] = [2]*ast.Term{inArguments, args}
	terms[4] = [2]*ast.Term{inNowNS, intTerm(req.Now.UnixNano())}
	if withSegs {
		// The resource's segments are for custom rules; Kavach's policy matches the whole.
		segs := make([]*ast.Term, 0, 4)
		for s := range strings.SplitSeq(req.Resource, ":") {
			segs = append(segs, ast.StringTerm(s))
		}
		terms = append(terms, [2]*ast.Term{inSegs, ast.ArrayTerm(segs...)}, [2]*ast.Term{inN, ast.InternedTerm(len(segs))})
	}
	if req.IP != "" {
		terms = append(terms, [2]*ast.Term{inIP, ast.StringTerm(req.IP)})
	}
	if long := longArguments(req.Arguments); long != nil {
		terms = append(terms, [2]*ast.Term{inLongArgs, long})
	}
	return ast.NewObject(terms...), nil
}

// longArguments names the string arguments longer than agent.MaxMatchedValueLen bytes, as
// {name: true}, or returns nil when there are none (nearly always). The policy fails their
// patterns without matching them: the cost of a match grows with the value's length.
func longArguments(args map[string]any) *ast.Term {
	var long [][2]*ast.Term
	for name, v := range args {
		if s, ok := v.(string); ok && len(s) > agent.MaxMatchedValueLen {
			long = append(long, [2]*ast.Term{ast.StringTerm(name), ast.InternedTerm(true)})
		}
	}
	if long == nil {
		return nil
	}
	return ast.ObjectTerm(long...)
}

// engineError is the fail-closed answer to an internal error. Its reason says when the
// caller went away or the deadline passed; other causes stay in Err, for logs.
func engineError(err error) Result {
	switch {
	case errors.Is(err, ErrCallerGone):
		return Result{Code: api.EngineError, Reason: "the caller went away before the decision was made: denied", Err: err}
	case errors.Is(err, ErrDeadline):
		return Result{Code: api.EngineError, Reason: "internal error: the decision ran past its deadline and failed closed", Err: err}
	}
	return Result{Code: api.EngineError, Reason: "internal error: the decision failed closed", Err: err}
}

func callerGone(err error) Result {
	return engineError(fmt.Errorf("%w: %w", ErrCallerGone, err))
}

// policyDenial reports a custom deny: its code if the rule names a denial code Kavach
// knows, POLICY_DENIED otherwise, and every rule's reason.
func policyDenial(ds []customDeny) (api.DecisionCode, string) {
	code := api.PolicyDenied
	var reasons []string
	for i, d := range ds {
		if i == 0 && denialCodes[api.DecisionCode(d.Code)] {
			code = api.DecisionCode(d.Code)
		}
		if d.Reason != "" {
			reasons = append(reasons, d.Reason)
		}
	}
	if len(reasons) == 0 {
		reasons = []string{"denied by a custom policy rule"}
	}
	return code, strings.Join(reasons, "; ")
}

// denialCodes are the codes a custom deny rule may report.
var denialCodes = map[api.DecisionCode]bool{
	api.NoPermission: true, api.RateLimited: true, api.OutsideTimeWindow: true, api.IPNotAllowed: true,
	api.ArgumentNotAllowed: true, api.ApprovalDenied: true, api.PolicyDenied: true,
}

func reasonFor(code api.DecisionCode, req Request) string {
	switch code {
	case api.AgentNotFound:
		return "agent " + req.AgentID + " not found"
	case api.AgentRevoked:
		return "agent " + req.AgentID + " is revoked"
	case api.AgentExpired:
		return "agent " + req.AgentID + " has expired"
	case api.NoPermission:
		return fmt.Sprintf("no permission grants %q on %q", req.Action, req.Resource)
	case api.IPNotAllowed:
		if req.IP == "" {
			return "the client address is unknown and the permission has an IP allowlist"
		}
		return "client address " + req.IP + " is not in the permission's IP allowlist"
	case api.OutsideTimeWindow:
		return "the call is outside the permission's time windows"
	case api.ArgumentNotAllowed:
		return "an argument does not match the permission's argument patterns"
	case api.RateLimited:
		return "the permission's rate limit is exhausted"
	case api.ApprovalRequired:
		return "the call needs a human approval"
	case api.ApprovalDenied:
		return "a human denied this call"
	case api.Allowed:
		return "allowed"
	}
	return string(code)
}
