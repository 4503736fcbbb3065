package faults

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// target is one decision the clients keep asking for.
type target struct {
	agentID, action, resource string
}

// answer is one decision asked for, and what came back.
type answer struct {
	id       string // auditId: "" when the decision failed closed or nothing answered
	code     api.DecisionCode
	agentID  string
	sent, at time.Time
	err      error // no decision came back
}

func (a answer) acknowledged() bool { return a.err == nil && a.id != "" }

// record collects answers from every client of a test.
type record struct {
	mu      sync.Mutex
	answers []answer
}

func (r *record) add(a answer) {
	r.mu.Lock()
	r.answers = append(r.answers, a)
	r.mu.Unlock()
}

func (r *record) snapshot() []answer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]answer(nil), r.answers...)
}

func (r *record) acknowledged() int {
	n := 0
	for _, a := range r.snapshot() {
		if a.acknowledged() {
			n++
		}
	}
	return n
}

// changes collects agent creations and revocations attempted and acknowledged.
type changes struct {
	mu                             sync.Mutex
	createAttempts, revokeAttempts int
	created, revoked               []string
}

// workers are client goroutines that run until stopped.
type workers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (w *workers) stop() {
	w.cancel()
	w.wg.Wait()
}

func (w *workers) run(n int, fn func(ctx context.Context, i int)) {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	for i := range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			fn(ctx, i)
		}()
	}
}

// decide asks s for one decision and records the answer.
func decide(ctx context.Context, s *server, rec *record, tg target) answer {
	a := answer{agentID: tg.agentID, sent: time.Now()}
	d, err := s.api.Authorize(ctx, tg.agentID, api.AuthorizeRequest{Action: tg.action, Resource: tg.resource}, api.CallContext{})
	a.at = time.Now()
	if err != nil {
		a.err = err
	} else {
		a.id, a.code = d.AuditID, d.Code
	}
	if ctx.Err() == nil || err == nil {
		rec.add(a)
	}
	return a
}

// pace is the least time between two decisions a client asks for: a steady load that
// leaves the machine some room, rather than the most the server can take.
const pace = 5 * time.Millisecond

// ask keeps n clients asking s for decisions about targets, round robin.
func ask(s *server, rec *record, targets []target, n int) *workers {
	w := &workers{}
	w.run(n, func(ctx context.Context, i int) {
		for j := i; ctx.Err() == nil; j++ {
			a := decide(ctx, s, rec, targets[j%len(targets)])
			switch {
			case a.err != nil:
				pause(ctx, 20*time.Millisecond) // nothing answers: do not spin
			case time.Since(a.sent) < pace:
				pause(ctx, pace-time.Since(a.sent))
			}
		}
	})
	return w
}

// churn keeps n clients creating an agent, asking one decision about it, and revoking it.
func churn(s *server, rec *record, ch *changes, n int) *workers {
	w := &workers{}
	w.run(n, func(ctx context.Context, i int) {
		for ctx.Err() == nil {
			ch.mu.Lock()
			ch.createAttempts++
			ch.mu.Unlock()
			created, err := s.api.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "churn", Name: fmt.Sprintf("churn-%d", i),
				Permissions: []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}}})
			if err != nil {
				pause(ctx, 20*time.Millisecond)
				continue
			}
			ch.mu.Lock()
			ch.created = append(ch.created, created.ID)
			ch.revokeAttempts++
			ch.mu.Unlock()
			decide(ctx, s, rec, target{created.ID, "read", "mcp:github:repos"})
			if _, err := s.api.Agents().Revoke(ctx, created.ID); err != nil {
				pause(ctx, 20*time.Millisecond)
				continue
			}
			ch.mu.Lock()
			ch.revoked = append(ch.revoked, created.ID)
			ch.mu.Unlock()
		}
	})
	return w
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// setupTargets creates an agent on s and returns decisions that are allowed, denied for
// want of a permission, and about an agent that does not exist.
func setupTargets(t *testing.T, s *server) []target {
	t.Helper()
	a, err := s.api.Agents().Create(context.Background(), api.CreateAgentRequest{OwnerID: "owner", Name: "reader",
		Permissions: []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return []target{
		{a.ID, "read", "mcp:github:repos"},
		{a.ID, "write", "mcp:github:repos"},
		{agent.NewID(agent.PrefixAgent), "read", "mcp:github:repos"},
	}
}

// probe is one /readyz answer.
type probe struct {
	at     time.Time
	status int
}

// prober polls /readyz every 100ms.
type prober struct {
	workers
	mu     sync.Mutex
	probes []probe
}

func probeReadiness(url string) *prober {
	p := &prober{}
	p.run(1, func(ctx context.Context, _ int) {
		for ctx.Err() == nil {
			st := ready(url)
			p.mu.Lock()
			p.probes = append(p.probes, probe{time.Now(), st})
			p.mu.Unlock()
			pause(ctx, 100*time.Millisecond)
		}
	})
	return p
}

func (p *prober) finish() []probe {
	p.stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probes
}

// persistentFailure is how long every decision must have failed closed before the
// service is expected to say it is not ready.
const persistentFailure = 5 * time.Second

// checkReadiness fails the test if, for persistentFailure or longer, every decision
// answered was ENGINE_ERROR while /readyz kept answering 200.
func checkReadiness(t *testing.T, answers []answer, probes []probe) {
	t.Helper()
	var done []answer
	for _, a := range answers {
		if a.err == nil {
			done = append(done, a)
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i].at.Before(done[j].at) })
	for i := 0; i < len(done); {
		if done[i].code != api.EngineError {
			i++
			continue
		}
		j := i
		for j+1 < len(done) && done[j+1].code == api.EngineError {
			j++
		}
		from, to := done[i].at, done[j].at
		if to.Sub(from) >= persistentFailure {
			statuses := map[int]int{}
			for _, p := range probes {
				if !p.at.Before(from) && !p.at.After(to) {
					statuses[p.status]++
				}
			}
			if statuses[http.StatusServiceUnavailable] == 0 {
				t.Errorf("for %v (%d decisions) every decision failed closed (ENGINE_ERROR), yet /readyz never answered 503 (answers by status: %v)",
					to.Sub(from).Round(time.Millisecond), j-i+1, statuses)
			} else {
				t.Logf("decisions failed closed for %v; /readyz by status: %v", to.Sub(from).Round(time.Millisecond), statuses)
			}
		}
		i = j + 1
	}
}
