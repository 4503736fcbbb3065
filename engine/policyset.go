package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/policies"
)

// CustomRoot is where custom rules and their data live: package kavach.custom (or below)
// and data.kavach.custom. Nothing a policy set brings may reach elsewhere — above all not
// data.kavach.agents or the kavach.authz rules.
const CustomRoot = "kavach/custom"

// Module is one Rego source file.
type Module = policies.Module

// PolicySet is one revision of custom rules: Rego modules in package kavach.custom (and
// their tests), and the data document at data.kavach.custom.
type PolicySet struct {
	Revision string
	Source   string
	Modules  []policies.Module
	Data     map[string]any
}

// Revision is one compiled policy revision over the engine's agents: the active one, or a
// candidate evaluated beside it (replay, shadow evaluation) that never decides a call. Each
// revision has its own copy of data.kavach.custom; the agents are shared.
type Revision struct {
	// Name is the revision's name: the bundle's revision, or one derived from its content.
	Name   string
	Source string
	query  rego.PreparedEvalQuery
	// memoable: its answers may be remembered (see memo.go).
	memoable bool
	// shared: it has no custom rules, so that the agents of a profile get one answer
	// (profile.go).
	shared bool
	// hooks, for a revision with custom rules, counts what its deny and require_approval
	// rules give for an input (see Compare).
	hooks *rego.PreparedEvalQuery
}

// PolicyStatus describes the active revision and the last one refused. The engine leaves
// BundleLoaded to whoever loads bundles.
type PolicyStatus = api.PolicyStatus

type policyState struct {
	mu     sync.Mutex // serialises activations
	status PolicyStatus
}

// embeddedRevision names the embedded policies by their content.
func embeddedRevision(mods []policies.Module) string {
	h := sha256.New()
	for _, m := range mods {
		h.Write([]byte(m.Name + "\x00" + m.Source + "\x00"))
	}
	return "embedded-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Revision names a policy set by its content, for sets that bring no revision of their own.
func (ps *PolicySet) contentRevision() string {
	h := sha256.New()
	mods := append([]policies.Module(nil), ps.Modules...)
	sort.Slice(mods, func(i, j int) bool { return mods[i].Name < mods[j].Name })
	for _, m := range mods {
		h.Write([]byte(m.Name + "\x00" + m.Source + "\x00"))
	}
	data, _ := json.Marshal(ps.Data)
	h.Write(data)
	return "sha256-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// checkRoots refuses modules outside package kavach.custom.
func (ps *PolicySet) checkRoots() ([]*ast.Module, error) {
	var parsed []*ast.Module
	for _, m := range ps.Modules {
		mod, err := ast.ParseModuleWithOpts(m.Name, m.Source, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", m.Name, err)
		}
		path := strings.TrimPrefix(mod.Package.Path.String(), "data.")
		rules := strings.TrimSuffix(path, "_test") // tests live beside what they test
		if rules != "kavach.custom" && !strings.HasPrefix(rules, "kavach.custom.") {
			return nil, fmt.Errorf("policy %s: package %s is outside kavach.custom: custom rules may not define or override anything else", m.Name, path)
		}
		parsed = append(parsed, mod)
	}
	return parsed, nil
}

// Activate checks a policy set — every module inside kavach.custom, everything compiling
// together with the embedded policies, every test_ rule it brings passing — and then makes
// it the active revision in one step. A set that fails stays out and the previous revision
// stays active; the failure is kept in Status. Decisions already evaluating finish on the
// revision they started with.
func (e *Engine) Activate(ctx context.Context, ps *PolicySet) error {
	e.policy.mu.Lock()
	defer e.policy.mu.Unlock()
	if err := e.activate(ctx, ps); err != nil {
		e.policy.status.LastError, e.policy.status.LastErrorAt = err.Error(), time.Now().UTC()
		e.policy.status.Rejections++
		e.stats.rejections.Add(1)
		return err
	}
	return nil
}

func (e *Engine) activate(ctx context.Context, ps *PolicySet) error {
	rev, err := prepare(ctx, e.agents, ps)
	if err != nil {
		return err
	}
	// Decisions already evaluating finish on the revision they loaded.
	e.active.Store(rev)
	if e.memo != nil {
		e.memo.clear() // the old revision's answers can no longer be hit (nor, for now, a shadow's)
	}
	e.policy.status = PolicyStatus{Revision: rev.Name, Source: rev.Source, ActivatedAt: time.Now().UTC(),
		LastError: e.policy.status.LastError, LastErrorAt: e.policy.status.LastErrorAt,
		Activations: e.policy.status.Activations + 1, Rejections: e.policy.status.Rejections}
	return nil
}

// Prepare runs every check Activate runs on a policy set and compiles it over the engine's
// agents, without activating it: the revision can then be evaluated beside the active one.
func (e *Engine) Prepare(ctx context.Context, ps *PolicySet) (*Revision, error) {
	return prepare(ctx, e.agents, ps)
}

// CheckPolicySet runs the checks a revision must pass to be activated — every module inside
// kavach.custom, everything compiling with the embedded policies, every test it brings
// passing — and returns the revision's name.
func CheckPolicySet(ctx context.Context, ps *PolicySet) (string, error) {
	rev, err := prepare(ctx, &agentSet{agents: map[string]*compiledAgent{}}, ps)
	if err != nil {
		return "", err
	}
	return rev.Name, nil
}

// prepare checks and compiles a policy set (nil: the embedded policies alone) over set.
func prepare(ctx context.Context, set *agentSet, ps *PolicySet) (*Revision, error) {
	embedded, err := policies.Modules()
	if err != nil {
		return nil, err
	}
	rev := &Revision{Name: embeddedRevision(embedded), Source: "embedded", memoable: true}
	var custom []policies.Module
	data := map[string]any{}
	if ps != nil {
		rev.Name, rev.Source = ps.Revision, ps.Source
		if rev.Name == "" {
			rev.Name = ps.contentRevision()
		}
		parsed, err := ps.checkRoots()
		if err != nil {
			return nil, fmt.Errorf("revision %s: %w", rev.Name, err)
		}
		rev.memoable = memoable(parsed)
		if err := runSetTests(ctx, embedded, ps); err != nil {
			return nil, fmt.Errorf("revision %s: %w", rev.Name, err)
		}
		custom = ps.Modules
		if ps.Data != nil {
			data = ps.Data
		}
	}
	// The revision is compiled over no agents: the compiler reads data.kavach whole to check
	// that no rule conflicts with a document, and the whole tree of every agent would cost
	// a second or more at a million agents. The agents are put in once it is compiled.
	store := newDataStore(&agentSet{agents: map[string]*compiledAgent{}})
	if err := storage.WriteOne(ctx, store, storage.AddOp, storage.Path{"kavach", "custom"}, data); err != nil {
		return nil, fmt.Errorf("revision %s: write its data: %w", rev.Name, err)
	}
	opts := []func(*rego.Rego){rego.Query(Query), rego.Store(store)}
	for _, m := range append(embedded, custom...) {
		opts = append(opts, rego.Module(m.Name, m.Source))
	}
	if rev.query, err = rego.New(opts...).PrepareForEval(ctx); err != nil {
		return nil, fmt.Errorf("revision %s does not compile: %w", rev.Name, err)
	}
	if len(custom) > 0 {
		hooks, err := rego.New(append(opts[2:], rego.Query(hooksQuery), rego.Store(store))...).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("revision %s does not compile: %w", rev.Name, err)
		}
		rev.hooks = &hooks
	}
	rev.shared = len(custom) == 0
	store.set = set
	return rev, nil
}

// runSetTests runs the test_ rules a set brings against the embedded policies and the
// set's modules and data. A set with a failing test is not activated.
func runSetTests(ctx context.Context, embedded []policies.Module, ps *PolicySet) error {
	modules := map[string]*ast.Module{}
	for _, m := range append(embedded, ps.Modules...) {
		parsed, err := ast.ParseModuleWithOpts(m.Name, m.Source, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return fmt.Errorf("policy %s: %w", m.Name, err)
		}
		modules[m.Name] = parsed
	}
	data := ps.Data
	if data == nil {
		data = map[string]any{}
	}
	store := inmem.NewFromObject(map[string]any{"kavach": map[string]any{"agents": map[string]any{}, "custom": data}})
	ch, err := tester.NewRunner().SetCompiler(ast.NewCompiler()).SetStore(store).SetModules(modules).RunTests(ctx, nil)
	if err != nil {
		return fmt.Errorf("it does not compile with the embedded policies: %w", err)
	}
	var failed []string
	for r := range ch {
		if r.Error != nil || r.Fail {
			failed = append(failed, r.Package+"."+r.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("its tests failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// Status reports the active revision and the last rejected one.
func (e *Engine) Status() PolicyStatus {
	e.policy.mu.Lock()
	defer e.policy.mu.Unlock()
	return e.policy.status
}

// ErrNoPolicy is returned by decisions before any revision is active.
var ErrNoPolicy = errors.New("engine: no policy revision is active")

// recordRejection notes a revision refused before it reached Activate: its source failed,
// or the bundle was unsigned, tampered with or reached outside kavach/custom.
func (e *Engine) recordRejection(err error) {
	e.policy.mu.Lock()
	defer e.policy.mu.Unlock()
	e.policy.status.LastError, e.policy.status.LastErrorAt = err.Error(), time.Now().UTC()
	e.policy.status.Rejections++
	e.stats.rejections.Add(1)
}
