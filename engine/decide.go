package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/kavachos/kavach-go/api"
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

// Decide evaluates a request and carries out its obligations. It never panics and never
// allows on an internal error: any failure, a recovered panic included, is ENGINE_ERROR.
func (e *Engine) Decide(ctx context.Context, req Request) (res Result) {
	defer func() {
		if r := recover(); r != nil {
			res = engineError(fmt.Errorf("panic: %v", r))
		}
	}()
	p, revision, err := e.evalPure(ctx, req)
	if err != nil {
		res = engineError(err)
		res.Revision = revision
		return res
	}
	defer func() { res.Revision = revision }()
	res = Result{Code: p.Code, TenantID: p.Agent.Tenant, OwnerID: p.Agent.Owner}
	if p.Code != api.AgentNotFound && !visible(req, p) {
		return Result{Code: api.AgentNotFound, Reason: reasonFor(api.AgentNotFound, req)}
	}
	switch p.Code {
	case api.Allowed:
		res = e.settle(ctx, req, p)
		res.TenantID, res.OwnerID = p.Agent.Tenant, p.Agent.Owner
	case api.PolicyDenied:
		res.Code, res.Reason = policyDenial(p.Deny)
	default:
		res.Reason = reasonFor(p.Code, req)
	}
	return res
}

func visible(req Request, p *pure) bool {
	return (req.TenantID == "" || req.TenantID == p.Agent.Tenant) &&
		(req.OwnerID == "" || req.OwnerID == p.Agent.Owner)
}

// evalPure runs the policy and decodes its answer, naming the revision that gave it.
func (e *Engine) evalPure(ctx context.Context, req Request) (*pure, string, error) {
	input, err := buildInput(req)
	if err != nil {
		return nil, "", err
	}
	rs, revision, err := e.evaluate(ctx, input)
	if err != nil {
		return nil, revision, fmt.Errorf("evaluate: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, revision, errors.New("evaluate: the policy produced no decision")
	}
	p, err := decodePure(rs[0].Expressions[0].Value)
	return p, revision, err
}

// decodePure reads the policy's decision document directly from the evaluation result,
// without a JSON round trip: it runs on every call.
func decodePure(v any) (*pure, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("decode decision: not an object")
	}
	p := &pure{Code: api.DecisionCode(str(m["code"]))}
	if p.Code == "" {
		return nil, errors.New("decode decision: no code")
	}
	if who, ok := m["agent"].(map[string]any); ok {
		p.Agent.Tenant, p.Agent.Owner = str(who["tenant"]), str(who["owner"])
	}
	for _, c := range list(m["candidates"]) {
		cm, ok := c.(map[string]any)
		if !ok {
			return nil, errors.New("decode decision: malformed candidate")
		}
		cand := candidate{ID: str(cm["id"]), Via: strs(cm["via"])}
		for _, r := range list(cm["rate"]) {
			rm, _ := r.(map[string]any)
			cand.Rate = append(cand.Rate, rateLimit{Key: str(rm["key"]), Max: int(num(rm["max"])), WindowNS: num(rm["window_ns"])})
		}
		if am, ok := cm["approval"].(map[string]any); ok {
			cand.Approval = &approvalGate{TTLNS: num(am["ttl_ns"]), Approvers: strs(am["approvers"]), Owner: str(am["owner"])}
		}
		p.Candidates = append(p.Candidates, cand)
	}
	for _, d := range list(m["deny"]) {
		dm, _ := d.(map[string]any)
		p.Deny = append(p.Deny, customDeny{Code: str(dm["code"]), Reason: str(dm["reason"])})
	}
	return p, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func strs(v any) []string {
	l := list(v)
	if len(l) == 0 {
		return nil
	}
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = str(x)
	}
	return out
}

func num(v any) int64 {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return i
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// buildInput makes the policy's input directly as an AST value: no JSON round trip.
func buildInput(req Request) (ast.Value, error) {
	segs := strings.Split(req.Resource, ":")
	segTerms := make([]*ast.Term, len(segs))
	for i, s := range segs {
		segTerms[i] = ast.StringTerm(s)
	}
	args := ast.NewObject()
	if len(req.Arguments) > 0 {
		v, err := ast.InterfaceToValue(req.Arguments)
		if err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		if obj, ok := v.(ast.Object); ok {
			args = obj
		}
	}
	terms := [][2]*ast.Term{
		{ast.StringTerm("agent_id"), ast.StringTerm(req.AgentID)},
		{ast.StringTerm("action"), ast.StringTerm(req.Action)},
		{ast.StringTerm("resource"), ast.StringTerm(req.Resource)},
		{ast.StringTerm("segs"), ast.ArrayTerm(segTerms...)},
		{ast.StringTerm("n"), ast.IntNumberTerm(len(segs))},
		{ast.StringTerm("arguments"), ast.NewTerm(args)},
		{ast.StringTerm("now_ns"), ast.NumberTerm(json.Number(fmt.Sprint(req.Now.UnixNano())))},
	}
	if req.IP != "" {
		terms = append(terms, [2]*ast.Term{ast.StringTerm("ip"), ast.StringTerm(req.IP)})
	}
	return ast.NewObject(terms...), nil
}

func engineError(err error) Result {
	return Result{Code: api.EngineError, Reason: "internal error: the decision failed closed", Err: err}
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
