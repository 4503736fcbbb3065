package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
)

// slowRule makes every decision evaluate four million Rego steps: seconds of work, cut
// short only by cancellation.
const slowRule = `deny contains "never" if {
	some i in numbers.range(1, 2000)
	some j in numbers.range(1, 2000)
	i * j < 0
}`

// slowEngine holds one agent that may do anything, under slowRule.
func slowEngine(t *testing.T, timeout time.Duration) *engine.Engine {
	t.Helper()
	ctx := context.Background()
	src := "package kavach.custom\n\nimport rego.v1\n\n" + slowRule + "\n"
	e, err := engine.New(ctx, engine.Config{DecisionTimeout: timeout,
		Custom: &engine.PolicySet{Revision: "slow", Modules: []engine.Module{{Name: "slow.rego", Source: src}}}})
	if err != nil {
		t.Fatal(err)
	}
	a := &agent.Agent{ID: "agt_a", TenantID: "t", OwnerID: "o", Status: agent.StatusActive,
		Permissions: []agent.Permission{{ID: "p", Resource: "*", Actions: []string{"*"}}}}
	if err := e.ReplaceAll(ctx, []*agent.Agent{a}, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

var anyCall = engine.Request{AgentID: "agt_a", Action: "read", Resource: "bank:acct:1", DryRun: true}

// A decision whose evaluation runs past the configured deadline is cancelled and fails
// closed with ENGINE_ERROR, soon after the deadline.
func TestDecisionPastItsDeadlineFailsClosed(t *testing.T) {
	t.Parallel()
	e := slowEngine(t, 20*time.Millisecond)
	req := anyCall
	req.Now = time.Now()
	start := time.Now()
	res := e.Decide(context.Background(), req)
	took := time.Since(start)
	if res.Allowed || res.Code != api.EngineError || !errors.Is(res.Err, engine.ErrDeadline) || errors.Is(res.Err, engine.ErrCallerGone) {
		t.Fatalf("got %s %q (%v), want ENGINE_ERROR for the deadline", res.Code, res.Reason, res.Err)
	}
	if !strings.Contains(res.Reason, "deadline") {
		t.Errorf("reason %q does not say the deadline passed", res.Reason)
	}
	if took > time.Second {
		t.Errorf("the decision took %s under a 20ms deadline", took)
	}
}

// A caller that cancels its own request is not an engine failure: the decision fails
// closed, and says the caller went away, whether it had started or not.
func TestCancelledCallerIsNotAnEngineFailure(t *testing.T) {
	t.Parallel()
	e := slowEngine(t, time.Minute)
	req := anyCall
	req.Now = time.Now()

	cases := []struct {
		name  string
		after time.Duration // when the caller cancels; 0: before the call
	}{{"before", 0}, {"during", 20 * time.Millisecond}}
	for _, c := range cases {
		ctx, cancel := context.WithCancel(context.Background())
		if c.after == 0 {
			cancel()
		} else {
			time.AfterFunc(c.after, cancel)
		}
		name := c.name
		start := time.Now()
		res := e.Decide(ctx, req)
		if res.Allowed || res.Code != api.EngineError || !errors.Is(res.Err, engine.ErrCallerGone) || errors.Is(res.Err, engine.ErrDeadline) {
			t.Errorf("%s: got %s %q (%v), want a denial saying the caller went away", name, res.Code, res.Reason, res.Err)
		}
		if !strings.Contains(res.Reason, "caller went away") || strings.Contains(res.Reason, "internal error") {
			t.Errorf("%s: reason %q", name, res.Reason)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: the cancelled decision went on for %s", name, took)
		}
	}
}

// Patterns stored before write-time checks existed still run, but never on a value longer
// than agent.MaxMatchedValueLen, and their total cost is cut off by the deadline.
func TestStoredHostilePatternsAreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := engine.New(ctx, engine.Config{DecisionTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ReplaceAll(ctx, []*agent.Agent{hostileAgent(8, `(?:[a-z%d]{1,1000})+`)}, nil); err != nil {
		t.Fatal(err)
	}
	decide := func(n int) (engine.Result, time.Duration) {
		start := time.Now()
		res := e.Decide(ctx, engine.Request{AgentID: "agt_hostile", Action: "push", Resource: "mcp:github:repos",
			Arguments: map[string]any{"branch": strings.Repeat("a", n)}, Now: time.Now(), DryRun: true})
		return res, time.Since(start)
	}
	// Matched, eight such patterns would run into the 100ms deadline and answer ENGINE_ERROR;
	// ARGUMENT_NOT_ALLOWED says the value failed them unmatched. (No wall-clock bound here: on
	// a loaded machine even the unmatched answer can take longer than the deadline's budget.)
	if res, took := decide(65000); res.Code != api.ArgumentNotAllowed {
		t.Errorf("a 65 KB value: %s in %s, want ARGUMENT_NOT_ALLOWED without matching", res.Code, took)
	}
	// Each match of a 4 KiB value takes tens of milliseconds; eight of them run past 100ms.
	if res, took := decide(agent.MaxMatchedValueLen); res.Code != api.EngineError || !errors.Is(res.Err, engine.ErrDeadline) || took > 2*time.Second {
		t.Errorf("8 costly matches: %s in %s (%v), want ENGINE_ERROR at the deadline", res.Code, took, res.Err)
	}
}
