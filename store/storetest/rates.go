package storetest

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

func consume(t *testing.T, s store.Store, c store.Consumption) store.ConsumeResult {
	t.Helper()
	res, err := s.Consume(ctx, c)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	return res
}

func remaining(t *testing.T, s store.Store, at time.Time, limits ...store.RateLimit) int {
	t.Helper()
	n, err := s.RateRemaining(ctx, limits, at)
	if err != nil {
		t.Fatalf("RateRemaining: %v", err)
	}
	return n
}

func testConsumeConcurrent(t *testing.T, s store.Store) {
	limit := store.RateLimit{Key: "agt_1/perm_1", Max: 10, Window: time.Minute}
	t0 := now()
	const n = 50
	results := make(chan store.ConsumeResult, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := s.Consume(ctx, store.Consumption{Now: t0, Limits: []store.RateLimit{limit}})
			if err != nil {
				errs <- err
				return
			}
			results <- res
		})
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Consume: %v", err)
	}
	ok := 0
	for res := range results {
		switch {
		case res.OK:
			ok++
		case res.RetryAfter != time.Minute || res.ApprovalGone:
			t.Errorf("refused with %+v; want RetryAfter 1m, approval untouched", res)
		}
	}
	if ok != limit.Max {
		t.Fatalf("%d of %d concurrent calls admitted; want exactly %d", ok, n, limit.Max)
	}
	if left := remaining(t, s, t0, limit); left != 0 {
		t.Fatalf("RateRemaining after exhaustion = %d, want 0", left)
	}
}

func testConsumeSliding(t *testing.T, s store.Store) {
	limit := store.RateLimit{Key: "agt_1/perm_1", Max: 2, Window: 10 * time.Second}
	t0 := now()
	steps := []struct {
		at    time.Duration
		ok    bool
		retry time.Duration
	}{
		{0, true, 0},
		{5 * time.Second, true, 0},
		{9 * time.Second, false, time.Second},
		{10*time.Second - time.Microsecond, false, time.Microsecond},
		// The call at 0 has left the window; the one at 5s has not.
		{10*time.Second + time.Microsecond, true, 0},
		{10*time.Second + 2*time.Microsecond, false, 5*time.Second - 2*time.Microsecond},
		{15 * time.Second, true, 0},
	}
	for _, st := range steps {
		res := consume(t, s, store.Consumption{Now: t0.Add(st.at), Limits: []store.RateLimit{limit}})
		if res.OK != st.ok || res.RetryAfter != st.retry || res.ApprovalGone {
			t.Fatalf("call at +%s: got %+v, want OK %v RetryAfter %s", st.at, res, st.ok, st.retry)
		}
	}
	// Calls at 10s+1µs and 15s are in the window at 16s.
	if left := remaining(t, s, t0.Add(16*time.Second), limit); left != 0 {
		t.Fatalf("RateRemaining at +16s = %d, want 0", left)
	}
	if left := remaining(t, s, t0.Add(20*time.Second+time.Microsecond), limit); left != 1 {
		t.Fatalf("RateRemaining at +20.000001s = %d, want 1", left)
	}
}

func testConsumeAllOrNothing(t *testing.T, s store.Store) {
	wide := store.RateLimit{Key: "agt_1/perm_parent", Max: 5, Window: time.Hour}
	narrow := store.RateLimit{Key: "agt_2/perm_child", Max: 1, Window: time.Minute}
	fresh := store.RateLimit{Key: "agt_2/perm_other", Max: 3, Window: time.Minute}
	t0 := now()
	if res := consume(t, s, store.Consumption{Now: t0, Limits: []store.RateLimit{narrow}}); !res.OK {
		t.Fatalf("first call refused: %+v", res)
	}
	t1 := t0.Add(10 * time.Second)
	res := consume(t, s, store.Consumption{Now: t1, Limits: []store.RateLimit{wide, narrow}})
	if res.OK || res.RetryAfter != 50*time.Second {
		t.Fatalf("exhausted second limit: got %+v, want refused with RetryAfter 50s", res)
	}
	if left := remaining(t, s, t1, wide); left != wide.Max {
		t.Fatalf("a refused consumption charged the first limit: %d left, want %d", left, wide.Max)
	}
	if left := remaining(t, s, t1, wide, narrow); left != 0 {
		t.Fatalf("RateRemaining is the most constrained limit: got %d, want 0", left)
	}
	if res := consume(t, s, store.Consumption{Now: t1, Limits: []store.RateLimit{wide, fresh}}); !res.OK {
		t.Fatalf("consumption with room refused: %+v", res)
	}
	if w, f := remaining(t, s, t1, wide), remaining(t, s, t1, fresh); w != wide.Max-1 || f != fresh.Max-1 {
		t.Fatalf("a consumption charges every limit once: %d and %d left, want %d and %d", w, f, wide.Max-1, fresh.Max-1)
	}
}

// approve stores a request for a and approves it for uses calls until grantEnd.
func approve(t *testing.T, s store.Store, a *agent.Agent, resource string, uses int, grantEnd time.Time) string {
	t.Helper()
	t0 := now()
	r := mustOpen(t, s, NewApproval(a, resource, nil, t0), t0)
	if _, err := s.UpdateApproval(ctx, r.ID, func(x *agent.ApprovalRequest) error {
		x.Status, x.UsesLeft, x.GrantExpiresAt = agent.ApprovalApproved, uses, &grantEnd
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func testConsumeApprovalUses(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	t0 := now()
	limit := store.RateLimit{Key: "agt_1/perm_1", Max: 10, Window: time.Hour}
	twice := approve(t, s, a, "mcp:github:repos", 2, t0.Add(time.Hour))
	use := store.Consumption{Now: t0, Limits: []store.RateLimit{limit}, ApprovalID: twice}
	for i := range 2 {
		if res := consume(t, s, use); !res.OK {
			t.Fatalf("use %d of 2 refused: %+v", i+1, res)
		}
	}
	if res := consume(t, s, use); res.OK || !res.ApprovalGone || res.RetryAfter != 0 {
		t.Fatalf("third use: got %+v, want ApprovalGone", res)
	}
	if left := remaining(t, s, t0, limit); left != limit.Max-2 {
		t.Fatalf("a refused consumption charged the rate limit: %d left, want %d", left, limit.Max-2)
	}
	if r, err := s.GetApproval(ctx, twice); err != nil || r.UsesLeft != 0 || r.EffectiveStatus(t0) != agent.ApprovalUsed {
		t.Fatalf("spent approval reads %+v, %v", r, err)
	}

	// A consumption refused by its rate limit leaves the approval's use alone.
	once := approve(t, s, a, "mcp:github:issues", 1, t0.Add(time.Hour))
	tight := store.RateLimit{Key: "agt_1/perm_2", Max: 1, Window: time.Hour}
	consume(t, s, store.Consumption{Now: t0, Limits: []store.RateLimit{tight}})
	if res := consume(t, s, store.Consumption{Now: t0, Limits: []store.RateLimit{tight}, ApprovalID: once}); res.OK || res.ApprovalGone || res.RetryAfter != time.Hour {
		t.Fatalf("rate-limited use: got %+v, want refused with RetryAfter 1h", res)
	}
	if r, _ := s.GetApproval(ctx, once); r.UsesLeft != 1 {
		t.Fatalf("a rate-limited call used up an approval: %d uses left", r.UsesLeft)
	}

	// Approvals that are not (or no longer) usable.
	lapsed := approve(t, s, a, "mcp:github:wikis", 5, t0)
	pending := mustOpen(t, s, NewApproval(a, "mcp:github:pulls", nil, t0), t0).ID
	for _, id := range []string{lapsed, pending, "apr_missing"} {
		if res := consume(t, s, store.Consumption{Now: t0, ApprovalID: id}); res.OK || !res.ApprovalGone {
			t.Errorf("approval %s: got %+v, want ApprovalGone", id, res)
		}
	}
	if res := consume(t, s, store.Consumption{Now: t0.Add(-time.Second), ApprovalID: lapsed}); !res.OK {
		t.Fatalf("approval within its grant refused: %+v", res)
	}
}

func testConsumeApprovalConcurrent(t *testing.T, s store.Store) {
	a := NewAgent(agent.DefaultTenant, "user_1")
	mustCreate(t, s, a)
	t0 := now()
	const uses, n = 3, 20
	id := approve(t, s, a, "mcp:github:repos", uses, t0.Add(time.Hour))
	limit := store.RateLimit{Key: "agt_1/perm_1", Max: 100, Window: time.Hour}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, gone int
	)
	for range n {
		wg.Go(func() {
			res, err := s.Consume(ctx, store.Consumption{Now: t0, Limits: []store.RateLimit{limit}, ApprovalID: id})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("concurrent Consume: %v", err)
			case res.OK:
				ok++
			case res.ApprovalGone:
				gone++
			}
		})
	}
	wg.Wait()
	if ok != uses || gone != n-uses {
		t.Fatalf("%d calls used the approval and %d found it gone; want %d and %d", ok, gone, uses, n-uses)
	}
	if left := remaining(t, s, t0, limit); left != limit.Max-uses {
		t.Fatalf("only admitted calls may charge the limit: %d left, want %d", left, limit.Max-uses)
	}
}

func testConsumeInvalidLimits(t *testing.T, s store.Store) {
	for _, l := range []store.RateLimit{
		{Key: "k", Max: 0, Window: time.Minute},
		{Key: "k", Max: 1, Window: 0},
	} {
		if _, err := s.Consume(ctx, store.Consumption{Now: now(), Limits: []store.RateLimit{l}}); err == nil {
			t.Errorf("Consume with %+v: want an error", l)
		}
		if _, err := s.RateRemaining(ctx, []store.RateLimit{l}, now()); err == nil {
			t.Errorf("RateRemaining with %+v: want an error", l)
		}
	}
}

func testRateRemaining(t *testing.T, s store.Store) {
	a := store.RateLimit{Key: "agt_1/perm_a", Max: 4, Window: time.Minute}
	b := store.RateLimit{Key: "agt_1/perm_b", Max: 3, Window: time.Minute}
	t0 := now()
	if left := remaining(t, s, t0, a); left != 4 {
		t.Fatalf("unused limit: %d left, want 4", left)
	}
	if left := remaining(t, s, t0); left != math.MaxInt {
		t.Fatalf("no limits: %d left, want math.MaxInt", left)
	}
	for range 2 {
		consume(t, s, store.Consumption{Now: t0, Limits: []store.RateLimit{a}})
	}
	consume(t, s, store.Consumption{Now: t0, Limits: []store.RateLimit{b}})
	if left := remaining(t, s, t0, a, b); left != 2 {
		t.Fatalf("min(4-2, 3-1) = %d, want 2", left)
	}
	// The same key under a shorter window counts only the calls inside it.
	short := store.RateLimit{Key: a.Key, Max: 4, Window: time.Second}
	if left := remaining(t, s, t0.Add(2*time.Second), short); left != 4 {
		t.Fatalf("shorter window: %d left, want 4", left)
	}
	if left := remaining(t, s, t0.Add(time.Minute), a, b); left != 3 {
		t.Fatalf("after the window: %d left, want 3", left)
	}
}
