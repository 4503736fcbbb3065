// Command loaddriver drives an authorization server over HTTP with a fixed number of
// connections and the benchmark request mix (tests/bench/dataset), bounded in time and in
// count, and prints requests per second with the median and 99th percentile latency.
//
// Both targets get the same calls for the same agents: "kavach" is POST /v1/authorize with
// an API key; "opa" is POST /v1/data/reference/decision on an OPA server running
// tests/bench/reference.rego. Every answer is checked against the mix's expected decision.
//
//	loaddriver -target kavach -url http://127.0.0.1:8080 -key kva_… -ids ids.txt -conns 16 -duration 15s
//
// With -bodies it writes the prepared calls' request bodies to a file, one a line, and
// exits: tests/bench/compare.sh sends them with wrk when DRIVER=wrk.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
	"github.com/kavachos/kavach-go/tests/bench/latency"
)

type config struct {
	target   string
	url      string
	key      string
	ids      string
	mix      string
	conns    int
	duration time.Duration
	requests int64
	warmup   time.Duration
	calls    int
	dist     string
	bodies   string
}

func main() {
	var c config
	flag.StringVar(&c.target, "target", "kavach", "kavach or opa")
	flag.StringVar(&c.url, "url", "", "base URL of the server, e.g. http://127.0.0.1:8080")
	flag.StringVar(&c.key, "key", os.Getenv("KAVACH_API_KEY"), "API key for kavach (env KAVACH_API_KEY)")
	flag.StringVar(&c.ids, "ids", "", "file of agent ids, one a line (from gendata)")
	flag.StringVar(&c.mix, "mix", "mixed", "request mix: allowed, denied or mixed")
	flag.IntVar(&c.conns, "conns", 16, "connections, each with one request in flight")
	flag.DurationVar(&c.duration, "duration", 15*time.Second, "how long to measure")
	flag.Int64Var(&c.requests, "requests", 5_000_000, "stop after this many measured requests")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured load before measuring")
	flag.IntVar(&c.calls, "calls", 16_384, "calls prepared (random agents × the mix), sent in turn")
	flag.StringVar(&c.dist, "dist", "uniform", "how agents and calls are drawn: uniform, or zipf (s=1.1 over agents and over the mix: a few agents call a few tools again and again)")
	flag.StringVar(&c.bodies, "bodies", "", "write the prepared calls' request bodies to this file, one a line, and exit (what DRIVER=wrk tests/bench/compare.sh sends)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "loaddriver:", err)
		os.Exit(1)
	}
}

// call is one prepared request and the answer it must get.
type call struct {
	body    []byte
	allowed bool
	code    api.DecisionCode
}

type stats struct {
	hist                       latency.Histogram
	ok, errs, mismatch, allows atomic.Int64
	firstErr                   sync.Once
	errMsg                     atomic.Value
}

func (s *stats) fail(err error) {
	s.errs.Add(1)
	s.firstErr.Do(func() { s.errMsg.Store(err.Error()) })
}

func run(c config) error {
	calls, err := prepare(c)
	if err != nil {
		return err
	}
	if c.bodies != "" {
		return writeBodies(c.bodies, calls)
	}
	endpoint := strings.TrimRight(c.url, "/") + "/v1/authorize"
	if c.target == "opa" {
		endpoint = strings.TrimRight(c.url, "/") + "/v1/data/reference/decision"
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: c.conns, MaxConnsPerHost: c.conns, DisableCompression: true,
	}}
	var next atomic.Uint64
	send := func(ctx context.Context, s *stats) {
		cl := calls[next.Add(1)%uint64(len(calls))]
		start := time.Now()
		err := do(ctx, client, c, endpoint, cl)
		d := time.Since(start)
		switch {
		case ctx.Err() != nil:
		case err != nil && errors.Is(err, errMismatch):
			s.mismatch.Add(1)
			s.fail(err)
		case err != nil:
			s.fail(err)
		default:
			s.hist.Record(d)
			s.ok.Add(1)
			if cl.allowed {
				s.allows.Add(1)
			}
		}
	}
	load := func(d time.Duration, limit int64, s *stats) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		var (
			wg    sync.WaitGroup
			count atomic.Int64
		)
		start := time.Now()
		for range c.conns {
			wg.Go(func() {
				for ctx.Err() == nil && (limit <= 0 || count.Add(1) <= limit) {
					send(ctx, s)
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	if c.warmup > 0 {
		var warm stats
		load(c.warmup, 0, &warm)
		if warm.ok.Load() == 0 {
			msg, _ := warm.errMsg.Load().(string)
			return fmt.Errorf("no successful request during warm-up: %s", msg)
		}
	}
	var s stats
	elapsed := load(c.duration, c.requests, &s)
	report(c, &s, elapsed)
	if s.errs.Load() > 0 {
		msg, _ := s.errMsg.Load().(string)
		return fmt.Errorf("%d failed requests (%d wrong answers); first: %s", s.errs.Load(), s.mismatch.Load(), msg)
	}
	return nil
}

func report(c config, s *stats, elapsed time.Duration) {
	n := s.ok.Load()
	rps := float64(n) / elapsed.Seconds()
	p50, p99 := s.hist.Quantile(0.50), s.hist.Quantile(0.99)
	fmt.Printf("%-7s %d conns, mix %s (%s): %d requests in %.1fs = %.0f req/s, p50 %s, p99 %s, max %s, %d allowed, %d errors\n",
		c.target, c.conns, c.mix, c.dist, n, elapsed.Seconds(), rps, p50.Round(time.Microsecond), p99.Round(time.Microsecond),
		s.hist.Max().Round(time.Microsecond), s.allows.Load(), s.errs.Load())
	fmt.Printf("RESULT target=%s conns=%d requests=%d seconds=%.2f rps=%.0f p50_us=%d p99_us=%d errors=%d\n",
		c.target, c.conns, n, elapsed.Seconds(), rps, p50.Microseconds(), p99.Microseconds(), s.errs.Load())
}

var errMismatch = errors.New("wrong answer")

func do(ctx context.Context, client *http.Client, c config, endpoint string, cl call) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(cl.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.target == "kavach" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	var d struct {
		Allowed bool             `json:"allowed"`
		Code    api.DecisionCode `json:"code"`
		Result  *struct {
			Allowed bool             `json:"allowed"`
			Code    api.DecisionCode `json:"code"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return fmt.Errorf("decode %.200s: %w", body, err)
	}
	if d.Result != nil {
		d.Allowed, d.Code = d.Result.Allowed, d.Result.Code
	}
	if d.Allowed != cl.allowed || d.Code != cl.code {
		return fmt.Errorf("%w: got %s, want %s for %s", errMismatch, d.Code, cl.code, cl.body)
	}
	return nil
}

// prepare builds the calls: random agents (fixed seed) cycling through the mix.
func prepare(c config) ([]call, error) {
	if (c.url == "" && c.bodies == "") || c.ids == "" {
		return nil, errors.New("-url (or -bodies) and -ids are required")
	}
	if c.target != "kavach" && c.target != "opa" {
		return nil, fmt.Errorf("-target %q: want kavach or opa", c.target)
	}
	if c.target == "kavach" && c.key == "" && c.bodies == "" {
		return nil, errors.New("kavach needs an API key (-key or KAVACH_API_KEY)")
	}
	if c.conns < 1 || c.calls < 1 {
		return nil, errors.New("-conns and -calls must be at least 1")
	}
	mix, err := dataset.Mix(c.mix)
	if err != nil {
		return nil, err
	}
	ids, err := readIDs(c.ids)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(i int) (dataset.Request, string) { return mix[i%len(mix)], ids[rng.IntN(len(ids))] }
	switch c.dist {
	case "uniform":
	case "zipf":
		who := rand.NewZipf(rng, 1.1, 1, uint64(len(ids)-1))
		what := rand.NewZipf(rng, 1.1, 1, uint64(len(mix)-1))
		pick = func(int) (dataset.Request, string) { return mix[what.Uint64()], ids[who.Uint64()] }
	default:
		return nil, fmt.Errorf("-dist %q: want uniform or zipf", c.dist)
	}
	calls := make([]call, c.calls)
	for i := range calls {
		m, id := pick(i)
		if m.Unknown {
			id = dataset.UnknownAgentID
		}
		body, err := encode(c.target, id, m)
		if err != nil {
			return nil, err
		}
		calls[i] = call{body: body, allowed: m.Allowed, code: m.Code}
	}
	return calls, nil
}

func encode(target, agentID string, m dataset.Request) ([]byte, error) {
	if target == "opa" {
		input := map[string]any{"agent_id": agentID, "action": m.Action, "resource": m.Resource}
		if m.Arguments != nil {
			input["arguments"] = m.Arguments
		}
		if m.IP != "" {
			input["ip"] = m.IP
		}
		return json.Marshal(map[string]any{"input": input})
	}
	req := api.AuthorizeAgentRequest{AgentID: agentID, AuthorizeRequest: api.AuthorizeRequest{
		Action: m.Action, Resource: m.Resource, Arguments: m.Arguments,
	}}
	if m.IP != "" {
		req.Context = &api.CallContext{IP: m.IP}
	}
	return json.Marshal(req)
}

// writeBodies writes the calls' bodies, one a line (JSON bodies hold no newline).
func writeBodies(path string, calls []call) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, cl := range calls {
		w.Write(cl.body)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" {
			ids = append(ids, id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no agent ids", path)
	}
	return ids, nil
}
