package kavach_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
	"github.com/kavachos/kavach-go/tests/bench/latency"
)

// benchSigningKey keeps the audit signing key out of the working directory.
const benchSigningKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

var (
	appActor   = api.Actor{Role: api.RoleApp, TenantID: dataset.Tenant}
	adminActor = api.Actor{Role: api.RoleAdmin, TenantID: dataset.Tenant}
)

// BenchmarkAuthorize measures authorize in process, end to end: the token or id lookup, the
// decision and the audit event queued to the SQLite ledger (asynchronous pipeline, as
// `kavach serve` runs it), for agents with ten permissions each (tests/bench/dataset).
//
//   - open: kavach.Open over the populated store (cold load), with the Go heap it keeps
//     per agent; each iteration is a whole load, so give -benchtime as a duration;
//   - by=id|token/mix=…: one call at a time, with p50 and p99 from a latency histogram;
//   - parallel/…: the mixed calls by id from GOMAXPROCS goroutines;
//   - change: from one agent's change being committed to the next decision seeing it.
func BenchmarkAuthorize(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("agents=%dk", n/1000), func(b *testing.B) { benchmarkAuthorize(b, n) })
	}
}

// BenchmarkAuthorize1M is BenchmarkAuthorize at a million agents, run only with
// KAVACH_BENCH_1M=1: writing them takes a minute or more and a few GB of disk.
func BenchmarkAuthorize1M(b *testing.B) {
	if os.Getenv("KAVACH_BENCH_1M") != "1" {
		b.Skip("set KAVACH_BENCH_1M=1 to run: it writes a million agents into a SQLite file of a few GB")
	}
	benchmarkAuthorize(b, 1_000_000)
}

// population is a SQLite database holding n generated agents, with their ids and tokens.
type population struct {
	db     string
	ids    []string
	tokens []string
}

// populate writes n generated agents into a new SQLite database.
func populate(b *testing.B, n int) *population { return populateIn(b, n, "") }

// populateKept is populate, but with KAVACH_BENCH_DIR set the database and its ids and
// tokens are kept in that directory and reused by later runs of the same size, so that a
// million agents are written once. Benchmarks using it leave the agents as they found them.
func populateKept(b *testing.B, n int) *population {
	return populateIn(b, n, os.Getenv("KAVACH_BENCH_DIR"))
}

func populateIn(b *testing.B, n int, dir string) *population {
	b.Helper()
	ctx := context.Background()
	keep := dir != ""
	if !keep {
		dir = b.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("kavach-%d.db", n))
	p := &population{db: "sqlite://" + path, ids: make([]string, 0, n), tokens: make([]string, 0, n)}
	tokensPath := path + ".tokens"
	if keep {
		if f, err := os.Open(tokensPath); err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				id, token, _ := strings.Cut(sc.Text(), " ")
				p.ids, p.tokens = append(p.ids, id), append(p.tokens, token)
			}
			if sc.Err() == nil && len(p.ids) == n {
				b.Logf("reusing %d agents in %s", n, path)
				return p
			}
			p.ids, p.tokens = p.ids[:0], p.tokens[:0]
			os.Remove(path)
		}
	}
	s, err := kavach.OpenStore(ctx, p.db)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	if err := dataset.Populate(ctx, s, n, func(a *agent.Agent, token string) error {
		p.ids = append(p.ids, a.ID)
		p.tokens = append(p.tokens, token)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d agents in %s", n, time.Since(start).Round(time.Millisecond))
	if keep {
		var buf strings.Builder
		for i := range p.ids {
			buf.WriteString(p.ids[i] + " " + p.tokens[i] + "\n")
		}
		if err := os.WriteFile(tokensPath, []byte(buf.String()), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

// openBench opens Kavach over db as kavach serve would; KAVACH_BENCH_MEMO=off turns the
// decision memo off, to measure evaluations alone (repeated runs over the same calls are
// otherwise answered from it).
func openBench(b *testing.B, db string) *kavach.Kavach {
	b.Helper()
	memo := 0
	if os.Getenv("KAVACH_BENCH_MEMO") == "off" {
		memo = -1
	}
	k, err := kavach.Open(context.Background(), kavach.Config{
		Database: db, DecisionMemo: memo,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Audit:  kavach.AuditConfig{SigningKey: benchSigningKey},
	})
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func benchmarkAuthorize(b *testing.B, n int) {
	p := populateKept(b, n)
	b.Run("open", func(b *testing.B) { benchmarkOpen(b, p, n) })
	k := openBench(b, p.db)
	defer k.Close()
	for _, c := range []struct{ by, mix string }{
		{"id", "allowed"}, {"id", "denied"}, {"id", "mixed"}, {"token", "mixed"}, {"token-seen", "mixed"},
	} {
		b.Run(fmt.Sprintf("by=%s/mix=%s", c.by, c.mix), func(b *testing.B) { benchmarkDecisions(b, k, p, c.by, c.mix) })
	}
	b.Run("parallel/by=id/mix=mixed", func(b *testing.B) { benchmarkParallel(b, k, p) })
	b.Run("change", func(b *testing.B) { benchmarkChange(b, k, p) })
	st := k.AuditStats()
	if st.FailedClosed > 0 || st.WriteErrors > 0 {
		b.Fatalf("audit: %+v", st)
	}
	if st.Batches > 0 {
		b.Logf("audit: %d events in %d commits (%.1f a commit)", st.Written, st.Batches, float64(st.Written)/float64(st.Batches))
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// benchmarkOpen times kavach.Open over the populated store (a cold load) and reports the
// heap an instance holds per agent, net of what an instance over an empty store holds.
func benchmarkOpen(b *testing.B, p *population, n int) {
	before := liveHeap()
	k := openBench(b, "sqlite://"+filepath.Join(b.TempDir(), "empty.db"))
	fixed := int64(liveHeap()) - int64(before)
	k.Close()
	var held int64
	for b.Loop() {
		b.StopTimer()
		before := liveHeap()
		b.StartTimer()
		k := openBench(b, p.db)
		b.StopTimer()
		held = int64(liveHeap()) - int64(before)
		k.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(held-fixed)/float64(n), "heap-B/agent")
	b.ReportMetric(float64(held)/1e6, "heap-MB")
}

func reportLatency(b *testing.B, h *latency.Histogram, prefix string) {
	b.ReportMetric(float64(h.Quantile(0.50).Nanoseconds()), prefix+"p50-ns")
	b.ReportMetric(float64(h.Quantile(0.99).Nanoseconds()), prefix+"p99-ns")
}

// authorizeOne makes the i-th call of the mix for an agent spread across the population.
func authorizeOne(ctx context.Context, k *kavach.Kavach, p *population, by string, mix []dataset.Request, i int) (*api.Decision, dataset.Request, error) {
	m := mix[i%len(mix)]
	j := (i * 7919) % len(p.ids)
	req := api.AuthorizeRequest{Action: m.Action, Resource: m.Resource, Arguments: m.Arguments}
	cc := api.CallContext{IP: m.IP}
	if by == "token" {
		token := p.tokens[j]
		if m.Unknown {
			token = unknownToken
			m.Code = api.TokenInvalid
		}
		d, err := k.AuthorizeToken(ctx, token, req, cc)
		return d, m, err
	}
	id := p.ids[j]
	if m.Unknown {
		id = dataset.UnknownAgentID
	}
	d, err := k.Authorize(ctx, id, req, cc)
	return d, m, err
}

// unknownToken is well formed but belongs to no agent.
var unknownToken = agent.MintToken()

func checkDecision(b *testing.B, d *api.Decision, m dataset.Request, err error) {
	if err != nil {
		b.Fatal(err)
	}
	if d.Allowed != m.Allowed || d.Code != m.Code {
		b.Fatalf("%s: got %s (%s), want %s", m.Name, d.Code, d.Reason, m.Code)
	}
}

func benchmarkDecisions(b *testing.B, k *kavach.Kavach, p *population, by, mixName string) {
	mix, err := dataset.Mix(mixName)
	if err != nil {
		b.Fatal(err)
	}
	actor := appActor
	if by != "id" {
		actor = api.Root // an agent's own token may name an agent in any tenant
	}
	ctx := kavach.WithActor(context.Background(), actor)
	// by=token: tokens spread across the population, mostly seen for the first time (a
	// lookup in the store). by=token-seen: a working set of up to 20,000 agents whose
	// tokens were used once before the timing starts, as agents calling repeatedly are.
	calls := func(i int) int { return i }
	if by == "token-seen" {
		w := min(len(p.ids), 20_000)
		calls = func(i int) int { return i % w }
		for i := range w {
			if _, _, err := authorizeOne(ctx, k, p, "token", mix, i); err != nil {
				b.Fatal(err)
			}
		}
		by = "token"
	}
	var h latency.Histogram
	b.ReportAllocs()
	cpu := latency.CPUTime()
	i := 0
	for b.Loop() {
		start := time.Now()
		d, m, err := authorizeOne(ctx, k, p, by, mix, calls(i))
		h.Record(time.Since(start))
		checkDecision(b, d, m, err)
		i++
	}
	b.ReportMetric(float64((latency.CPUTime()-cpu).Nanoseconds())/float64(i), "cpu-ns/op")
	reportLatency(b, &h, "")
}

func benchmarkParallel(b *testing.B, k *kavach.Kavach, p *population) {
	mix, _ := dataset.Mix("mixed")
	ctx := kavach.WithActor(context.Background(), appActor)
	var (
		h    latency.Histogram
		next atomic.Int64
	)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			start := time.Now()
			d, m, err := authorizeOne(ctx, k, p, "id", mix, i)
			h.Record(time.Since(start))
			checkDecision(b, d, m, err)
		}
	})
	reportLatency(b, &h, "")
}

// benchmarkChange commits one agent's change (a permission gains or loses the "delete"
// action) and times, from the commit, until a decision sees it: the engine applies the
// change (reading the agent back from the store and recompiling its document), then the
// next authorize is judged on it. commit-p50-ns is the store's commit itself.
func benchmarkChange(b *testing.B, k *kavach.Kavach, p *population) {
	ctx := kavach.WithActor(context.Background(), appActor)
	on := make([]bool, len(p.ids))
	req := api.AuthorizeRequest{Action: "delete", Resource: "mcp:github:repos"}
	var visible, commit latency.Histogram
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := (i * 7919) % len(p.ids)
		on[j] = !on[j]
		want := on[j]
		t0 := time.Now()
		a, err := k.Store().UpdateAgent(ctx, p.ids[j], func(a *agent.Agent) error {
			acts := []string{"read"}
			if want {
				acts = append(acts, "delete")
			}
			a.Permissions[0].Actions = acts
			a.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := k.Engine().Put(ctx, a); err != nil {
			b.Fatal(err)
		}
		d, err := k.Authorize(ctx, p.ids[j], req, api.CallContext{})
		visible.Record(time.Since(t1))
		commit.Record(t1.Sub(t0))
		if err != nil || d.Allowed != want {
			b.Fatalf("after the change: allowed=%v, want %v (%v)", d.Allowed, want, err)
		}
		i++
	}
	reportLatency(b, &visible, "")
	reportLatency(b, &commit, "commit-")
	// Leave every agent as it was: a kept population (KAVACH_BENCH_DIR) is reused.
	b.StopTimer()
	for j, set := range on {
		if !set {
			continue
		}
		if _, err := k.Store().UpdateAgent(ctx, p.ids[j], func(a *agent.Agent) error {
			a.Permissions[0].Actions = []string{"read"}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateThroughSDK is the whole of an administrator's change through the SDK
// (Agents().Update: validation, commit, engine update, management audit event) until the
// next decision sees it, among 10k agents.
func BenchmarkUpdateThroughSDK(b *testing.B) {
	p := populate(b, 10_000)
	k := openBench(b, p.db)
	defer k.Close()
	ctx := kavach.WithActor(context.Background(), adminActor)
	get, err := k.Agents().Get(ctx, p.ids[0])
	if err != nil {
		b.Fatal(err)
	}
	base := get.Permissions
	req := api.AuthorizeRequest{Action: "delete", Resource: "mcp:github:repos"}
	var h latency.Histogram
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		want := i%2 == 0
		perms := slices.Clone(base)
		perms[0].Actions = []string{"read"}
		if want {
			perms[0].Actions = []string{"read", "delete"}
		}
		start := time.Now()
		if _, err := k.Agents().Update(ctx, p.ids[0], api.UpdateAgentRequest{Permissions: &perms}); err != nil {
			b.Fatal(err)
		}
		d, err := k.Authorize(ctx, p.ids[0], req, api.CallContext{})
		h.Record(time.Since(start))
		if err != nil || d.Allowed != want {
			b.Fatalf("after the update: allowed=%v (%s: %s), want %v (%v)", d.Allowed, d.Code, d.Reason, want, err)
		}
		i++
	}
	reportLatency(b, &h, "")
	// Leave the agent as it was: a kept population (KAVACH_BENCH_DIR) is reused.
	b.StopTimer()
	if _, err := k.Agents().Update(ctx, p.ids[0], api.UpdateAgentRequest{Permissions: &base}); err != nil {
		b.Fatal(err)
	}
}
