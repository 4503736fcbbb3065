// Package replay re-decides recorded decisions under the active policy revision and under a
// candidate, and reports what the candidate would change: every difference comes from the
// policy change alone, since both revisions judge each call with the agents' current state
// and the call's recorded time, client address and arguments.
package replay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/store"
)

// DefaultTop is how many changed groups a report lists by default.
const DefaultTop = 10

// MemoSize is how many answers a replay remembers for the recorded calls that repeat.
const MemoSize = 16384

// MaxGroups bounds the distinct groups of changed decisions a replay keeps, so that its
// memory does not grow with the ledger: a change in a group past it is counted (matrix,
// Changed, Ungrouped) but not grouped.
const MaxGroups = 10_000

// Reasons a recorded decision is not replayed.
const (
	ReasonDryRun  = "a dry run: it changed nothing, and the time it asked about is not recorded"
	ReasonNoAgent = "no agent: the token presented was not valid"
	ReasonDeleted = "the agent has been deleted since"
)

// Source calls fn for each recorded event to replay, in ledger order. Events other than
// decisions are passed over.
type Source func(ctx context.Context, fn func(*store.AuditEvent) error) error

// Replayer re-decides recorded decisions with one engine's agents.
type Replayer struct {
	Engine *engine.Engine
	// Active is the revision the candidate is compared with (nil: the engine's active one).
	Active    *engine.Revision
	Candidate *engine.Revision
	// Top is how many changed groups to list (default DefaultTop).
	Top int
	// Workers evaluate in parallel (default GOMAXPROCS).
	Workers int
	// MaxGroups bounds the groups kept (default MaxGroups).
	MaxGroups int
}

// call is one replayable decision, numbered in the order it was read.
type call struct {
	n   int64
	ev  *store.AuditEvent
	req engine.Request
}

// Run replays the decisions src yields, at most limit of them (0: all), streaming: memory
// grows with the number of distinct changed groups, not with the ledger.
func (r *Replayer) Run(ctx context.Context, src Source, limit int64) (*api.ReplayReport, error) {
	active := r.Active
	if active == nil {
		active = r.Engine.Active()
	}
	workers := cmp.Or(r.Workers, runtime.GOMAXPROCS(0))
	// Recorded calls repeat as live ones do: an answer is reused for the same call of the
	// same agent within its horizon, in a memo of the replay's own.
	memo := engine.NewMemo(MemoSize)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	calls := make(chan call, 4*workers)
	parts := make([]*tally, workers)
	var wg sync.WaitGroup
	for i := range parts {
		parts[i] = newTally()
		parts[i].maxGroups = max(1, cmp.Or(r.MaxGroups, MaxGroups)/workers)
		wg.Go(func() {
			for c := range calls {
				was, now := r.Engine.Compare(ctx, memo, active, r.Candidate, c.req)
				parts[i].add(c, was, now)
			}
		})
	}
	read := newTally()
	var n int64
	errLimit := errors.New("limit reached")
	err := src(ctx, func(ev *store.AuditEvent) error {
		if ev.Kind != audit.KindDecision {
			return nil
		}
		if limit > 0 && n >= limit {
			return errLimit
		}
		n++
		if reason := r.unreplayable(ev); reason != "" {
			read.skip(reason, ev)
			return nil
		}
		req := engine.Request{AgentID: ev.AgentID, Action: ev.Action, Resource: ev.Resource, Arguments: ev.Arguments, IP: ev.IP, Now: ev.Time}
		select {
		case calls <- call{n: n, ev: ev, req: req}:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(calls)
	wg.Wait()
	if err != nil && !errors.Is(err, errLimit) {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, p := range parts {
		read.merge(p)
	}
	rep := read.report(cmp.Or(r.Top, DefaultTop))
	rep.ActiveRevision, rep.CandidateRevision, rep.Read = active.Name, r.Candidate.Name, n
	for i := range rep.Groups {
		g := &rep.Groups[i]
		req := read.groups[groupKeyOf(*g)].req
		g.CandidateRules = r.rules(ctx, r.Candidate, req)
		g.ActiveRules = r.rules(ctx, active, req)
	}
	return rep, nil
}

// unreplayable says why a recorded decision cannot be replayed, or "".
func (r *Replayer) unreplayable(ev *store.AuditEvent) string {
	switch {
	case ev.Result == audit.ResultCheck:
		return ReasonDryRun
	case ev.AgentID == "":
		return ReasonNoAgent
	}
	var masked []string
	for name, v := range ev.Arguments {
		if s, ok := v.(string); ok && s == audit.Masked {
			masked = append(masked, fmt.Sprintf("%q", name))
		}
	}
	if len(masked) > 0 {
		sort.Strings(masked)
		return "masked in the ledger: argument " + strings.Join(masked, ", ")
	}
	if ev.Code != string(api.AgentNotFound) && !r.Engine.Has(ev.AgentID) {
		return ReasonDeleted
	}
	return ""
}

func (r *Replayer) rules(ctx context.Context, rev *engine.Revision, req engine.Request) []string {
	rules, err := r.Engine.Rules(ctx, rev, req)
	if err != nil {
		return []string{"(could not trace: " + err.Error() + ")"}
	}
	out := make([]string, len(rules))
	for i, x := range rules {
		out[i] = x.String()
	}
	return out
}

// Pattern is a resource's group in a report: its last segment replaced by "*" when it has
// three segments or more ("mcp:github:repos" → "mcp:github:*").
func Pattern(resource string) string {
	if strings.Count(resource, ":") < 2 {
		return resource
	}
	return resource[:strings.LastIndexByte(resource, ':')] + ":*"
}

type groupKey struct {
	tenant, agent, action, pattern string
	from, to                       api.DecisionCode
}

func groupKeyOf(g api.ReplayGroup) groupKey {
	return groupKey{g.TenantID, g.AgentID, g.Action, g.Resource, g.From, g.To}
}

// group is a group of changed decisions and its earliest one: only what the report needs
// of it, so that a group holds no recorded event.
type group struct {
	count  int64
	n      int64 // the example's place in the order read
	id     string
	seq    int64
	req    engine.Request
	reason string
}

type example struct {
	count int64
	id    string
}

// tally aggregates replayed decisions; one per worker, merged at the end.
type tally struct {
	replayed, changed int64
	ungrouped         int64
	maxGroups         int
	matrix            map[[2]api.DecisionCode]int64
	groups            map[groupKey]*group
	skipped           map[string]*example
	revisions         map[string]int64
}

func newTally() *tally {
	return &tally{matrix: map[[2]api.DecisionCode]int64{}, groups: map[groupKey]*group{},
		skipped: map[string]*example{}, revisions: map[string]int64{}}
}

func (t *tally) add(c call, was, now engine.Outcome) {
	t.replayed++
	t.matrix[[2]api.DecisionCode{was.Code, now.Code}]++
	t.revisions[c.ev.Revision]++
	if was.Code == now.Code {
		return
	}
	t.changed++
	k := groupKey{c.ev.TenantID, c.ev.AgentID, c.ev.Action, Pattern(c.ev.Resource), was.Code, now.Code}
	g := t.groups[k]
	if g == nil && len(t.groups) >= t.maxGroups {
		t.ungrouped++
		return
	}
	if g == nil {
		g = &group{n: c.n, id: c.ev.ID, seq: c.ev.Seq, req: c.req, reason: now.Reason}
		t.groups[k] = g
	}
	g.count++
}

func (t *tally) skip(reason string, ev *store.AuditEvent) {
	if x := t.skipped[reason]; x != nil {
		x.count++
		return
	}
	t.skipped[reason] = &example{count: 1, id: ev.ID}
}

// merge adds o into t; of two examples the one read first wins, so a report does not
// depend on how the work was spread.
func (t *tally) merge(o *tally) {
	t.replayed += o.replayed
	t.changed += o.changed
	t.ungrouped += o.ungrouped
	for k, n := range o.matrix {
		t.matrix[k] += n
	}
	for k, n := range o.revisions {
		t.revisions[k] += n
	}
	for k, g := range o.groups {
		mine := t.groups[k]
		if mine == nil {
			t.groups[k] = g
			continue
		}
		mine.count += g.count
		if g.n < mine.n {
			mine.n, mine.id, mine.seq, mine.req, mine.reason = g.n, g.id, g.seq, g.req, g.reason
		}
	}
}

func (t *tally) report(top int) *api.ReplayReport {
	rep := &api.ReplayReport{Replayed: t.replayed, Changed: t.changed, Ungrouped: t.ungrouped, Matrix: []api.ReplayTransition{},
		Groups: []api.ReplayGroup{}, Unreplayable: []api.ReplayUnreplayable{}, RecordedRevisions: []api.ReplayRevisionCount{}}
	for k, n := range t.matrix {
		rep.Matrix = append(rep.Matrix, api.ReplayTransition{From: k[0], To: k[1], Count: n})
	}
	slices.SortFunc(rep.Matrix, func(a, b api.ReplayTransition) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	for k, g := range t.groups {
		rep.Groups = append(rep.Groups, api.ReplayGroup{TenantID: k.tenant, AgentID: k.agent, Action: k.action, Resource: k.pattern,
			From: k.from, To: k.to, Count: g.count, ExampleAuditID: g.id, ExampleSeq: g.seq, ExampleReason: g.reason})
	}
	slices.SortFunc(rep.Groups, func(a, b api.ReplayGroup) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(t.groups[groupKeyOf(a)].n, t.groups[groupKeyOf(b)].n))
	})
	if len(rep.Groups) > top {
		rep.Groups = rep.Groups[:top]
	}
	for _, reason := range slices.Sorted(maps.Keys(t.skipped)) {
		x := t.skipped[reason]
		rep.Unreplayable = append(rep.Unreplayable, api.ReplayUnreplayable{Reason: reason, Count: x.count, ExampleAuditID: x.id})
	}
	for rev, n := range t.revisions {
		rep.RecordedRevisions = append(rep.RecordedRevisions, api.ReplayRevisionCount{Revision: rev, Count: n})
	}
	slices.SortFunc(rep.RecordedRevisions, func(a, b api.ReplayRevisionCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Revision, b.Revision))
	})
	return rep
}
