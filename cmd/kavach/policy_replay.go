package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/client"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/replay"
	"github.com/kavachos/kavach-go/store"
)

type replayFlags struct {
	candidate, active, ledger string
	key                       engine.BundleKey
	since                     string
	fromSeq, toSeq, limit     int64
	tenant                    string
	top                       int
}

func policyReplayCmd(g *globals) *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay --bundle CANDIDATE",
		Short: "Re-decide recorded decisions under the active revision and a candidate, and report what would change",
		Long: `Re-decide recorded decisions under the active policy revision and under a candidate
bundle, with the agents' current state and each call's recorded time, client address and
arguments for both, so that every difference comes from the policy change alone.

The decisions come from the database (--database), from a running server (--server, which
replays its own ledger under its own active revision), or from a file written by
"kavach audit export --format replay" (--ledger), read without any database.

Exit status: 0 when no decision changes, 3 when some do, 2 when the candidate is refused
(it does not compile, its tests fail, its signature does not verify), 1 on other errors.`,
		Example: `  kavach policy replay --bundle candidate.tar.gz --since 24h
  kavach policy replay --bundle candidate.tar.gz --ledger sample.ndjson --active current.tar.gz -o json
  kavach policy replay --bundle https://bundles.example.com/kavach.tar.gz --tenant acme --from-seq 1000 --to-seq 2000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.candidate == "" {
				return errors.New("--bundle is required: the candidate revision (a bundle file, directory or URL)")
			}
			if f.since != "" && (f.fromSeq > 0 || f.toSeq > 0) {
				return errors.New("give --since or --from-seq/--to-seq, not both")
			}
			rep, err := f.run(cmd.Context(), g)
			if err != nil {
				return err
			}
			if err := show(cmd, g, rep, writeReplayReport); err != nil {
				return err
			}
			if rep.Changed > 0 {
				return exitError{code: exitChanged}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.candidate, "bundle", "", "the candidate revision: a bundle file, directory or http(s) URL")
	fl.StringVar(&f.active, "active", "", "the revision to compare with, as a bundle file, directory or URL (default: the embedded policies alone; with --server, the server's active revision)")
	fl.StringVar(&f.ledger, "ledger", "", `replay the decisions of this file (written by "kavach audit export --format replay") instead of a database`)
	fl.StringVar(&f.key.Key, "verification-key", "", "PEM public key or HMAC secret the candidate must be signed with (inline or a file path)")
	bindKeyFlags(cmd, &f.key, "verify with")
	fl.StringVar(&f.since, "since", "", "replay decisions since this time: RFC 3339, or a duration back from now such as 24h")
	fl.Int64Var(&f.fromSeq, "from-seq", 0, "replay from this seq of the tenant's chain (inclusive; needs --tenant with a database)")
	fl.Int64Var(&f.toSeq, "to-seq", 0, "replay up to this seq (inclusive)")
	fl.Int64Var(&f.limit, "limit", 0, "replay at most this many decisions (0: all)")
	fl.StringVar(&f.tenant, "tenant", "", "replay this tenant's decisions (default: every tenant)")
	fl.IntVar(&f.top, "top", replay.DefaultTop, "list this many changed groups")
	return cmd
}

func (f *replayFlags) request() (api.ReplayRequest, error) {
	req := api.ReplayRequest{TenantID: f.tenant, FromSeq: f.fromSeq, ToSeq: f.toSeq, Limit: f.limit, Top: f.top}
	if f.since != "" {
		t, err := api.ParseSince(f.since, time.Now())
		if err != nil || strings.HasPrefix(f.since, "-") {
			return req, fmt.Errorf("--since %q: want an RFC 3339 time or a duration such as 24h", f.since)
		}
		req.Since = t
	}
	return req, nil
}

func (f *replayFlags) verification() *engine.BundleKey {
	if f.key.Key == "" {
		return nil
	}
	return &f.key
}

// load reads a bundle, verifying the candidate's signature; a bundle that cannot be read
// or verified is refused. The active revision is read as given: it is the reviewer's own
// copy of what runs, and it decides nothing here.
func (f *replayFlags) load(ctx context.Context, location string) (*engine.PolicySet, error) {
	var key *engine.BundleKey
	if location == f.candidate {
		key = f.verification()
	}
	ps, err := engine.LoadBundle(ctx, engine.BundleSource{Location: location, Key: key})
	if err != nil {
		return nil, exitError{code: exitRefused, err: fmt.Errorf("bundle %s refused: %w", location, err)}
	}
	return ps, nil
}

func (f *replayFlags) run(ctx context.Context, g *globals) (*api.ReplayReport, error) {
	req, err := f.request()
	if err != nil {
		return nil, err
	}
	switch {
	case f.ledger != "":
		return f.offline(ctx, req)
	case g.server != "":
		return f.remote(ctx, g, req)
	}
	cand, err := f.load(ctx, f.candidate)
	if err != nil {
		return nil, err
	}
	k, root, err := g.open(ctx)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	if f.active != "" {
		ps, err := f.load(ctx, f.active)
		if err != nil {
			return nil, err
		}
		if err := k.Engine().Activate(ctx, ps); err != nil {
			return nil, fmt.Errorf("--active %s: %w", f.active, err)
		}
	}
	rep, err := k.ReplayPolicy(root, req, cand)
	if api.IsInvalidInput(err) && strings.HasPrefix(err.Error(), "the candidate") {
		return nil, exitError{code: exitRefused, err: err}
	}
	return rep, err
}

// offline replays a replay file with an engine holding its agents and delegations.
func (f *replayFlags) offline(ctx context.Context, req api.ReplayRequest) (*api.ReplayReport, error) {
	file, err := os.Open(f.ledger)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	rf, err := replay.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if req.TenantID != "" && req.TenantID != rf.Header.TenantID {
		return nil, fmt.Errorf("--tenant %s: %s holds tenant %s", req.TenantID, f.ledger, rf.Header.TenantID)
	}
	cand, err := f.load(ctx, f.candidate)
	if err != nil {
		return nil, err
	}
	var active *engine.PolicySet
	if f.active != "" {
		if active, err = f.load(ctx, f.active); err != nil {
			return nil, err
		}
	}
	e, err := engine.New(ctx, engine.Config{Custom: active})
	if err != nil {
		return nil, fmt.Errorf("--active %s: %w", f.active, err)
	}
	if err := e.ReplaceAll(ctx, rf.Agents, rf.Delegations); err != nil {
		return nil, err
	}
	rev, err := e.Prepare(ctx, cand)
	if err != nil {
		return nil, exitError{code: exitRefused, err: fmt.Errorf("the candidate revision was refused: %w", err)}
	}
	r := &replay.Replayer{Engine: e, Candidate: rev, Top: req.Top}
	return r.Run(ctx, within(rf.Events, req), req.Limit)
}

// within keeps a file's events inside the request's time and seq bounds.
func within(src replay.Source, req api.ReplayRequest) replay.Source {
	return func(ctx context.Context, fn func(*store.AuditEvent) error) error {
		return src(ctx, func(e *store.AuditEvent) error {
			if e.Time.Before(req.Since) || e.Seq < req.FromSeq || (req.ToSeq > 0 && e.Seq > req.ToSeq) {
				return nil
			}
			return fn(e)
		})
	}
}

// remote sends the candidate to the server, which replays its own ledger.
func (f *replayFlags) remote(ctx context.Context, g *globals, req api.ReplayRequest) (*api.ReplayReport, error) {
	if f.active != "" {
		return nil, errors.New("--active does not apply with --server: the server compares with its own active revision")
	}
	if g.apiKey == "" {
		return nil, errors.New("--server needs an API key: --api-key kva_… or KAVACH_API_KEY")
	}
	body, err := bundleBytes(ctx, f.candidate)
	if err != nil {
		return nil, err
	}
	c, err := client.New(g.server, g.apiKey, client.WithUserAgent("kavach-cli"))
	if err != nil {
		return nil, err
	}
	rep, err := c.ReplayPolicy(ctx, req, bytes.NewReader(body))
	var ae *api.Error
	if errors.As(err, &ae) && ae.Field == "bundle" {
		return nil, exitError{code: exitRefused, err: err}
	}
	return rep, err
}

// bundleBytes reads a bundle archive from a file or URL, as the server takes it.
func bundleBytes(ctx context.Context, location string) ([]byte, error) {
	if strings.HasPrefix(location, "http://") || strings.HasPrefix(location, "https://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("--bundle %s: %w", location, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("--bundle %s answered %s", location, resp.Status)
		}
		return io.ReadAll(resp.Body)
	}
	if st, err := os.Stat(location); err == nil && st.IsDir() {
		return nil, fmt.Errorf("--bundle %s: with --server the candidate must be a bundle archive (.tar.gz) or URL; build one with kavach bundle build", location)
	}
	return os.ReadFile(location)
}

func writeReplayReport(cmd *cobra.Command, rep *api.ReplayReport) error {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "active revision:    %s\ncandidate revision: %s\n", rep.ActiveRevision, rep.CandidateRevision)
	fmt.Fprintf(w, "replayed %d of %d recorded decisions: %d changed\n", rep.Replayed, rep.Read, rep.Changed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(rep.Matrix) > 0 {
		fmt.Fprintln(tw, "\nACTIVE\tCANDIDATE\tDECISIONS\t")
		for _, m := range rep.Matrix {
			mark := ""
			if m.From != m.To {
				mark = "changed"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", m.From, m.To, m.Count, mark)
		}
	}
	if len(rep.Groups) > 0 {
		fmt.Fprintln(tw, "\nCHANGED\tAGENT\tACTION\tRESOURCE\tFROM → TO\tEXAMPLE")
		for _, gr := range rep.Groups {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s → %s\t%s (seq %d)\n", gr.Count, gr.AgentID, gr.Action, gr.Resource, gr.From, gr.To, gr.ExampleAuditID, gr.ExampleSeq)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Ungrouped > 0 {
		fmt.Fprintf(w, "(%d more changed decisions, in groups past the first %d, are counted above but not grouped)\n", rep.Ungrouped, replay.MaxGroups)
	}
	for _, gr := range rep.Groups {
		if len(gr.CandidateRules)+len(gr.ActiveRules) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nwhy %s %s %s became %s (%s):\n", gr.AgentID, gr.Action, gr.Resource, gr.To, gr.ExampleAuditID)
		if gr.ExampleReason != "" && gr.To != api.Allowed {
			fmt.Fprintf(w, "  candidate's reason: %s\n", gr.ExampleReason)
		}
		for _, r := range gr.CandidateRules {
			fmt.Fprintf(w, "  candidate rule held: %s\n", r)
		}
		for _, r := range gr.ActiveRules {
			fmt.Fprintf(w, "  active rule held:    %s\n", r)
		}
	}
	if len(rep.Unreplayable) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nNOT REPLAYED\tREASON\tEXAMPLE")
		for _, u := range rep.Unreplayable {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", u.Count, u.Reason, u.ExampleAuditID)
		}
		return tw.Flush()
	}
	return nil
}

// writeShadowStatus shows the shadow revision's record under the policy status.
func writeShadowStatus(w io.Writer, sh *api.ShadowStatus) {
	fmt.Fprintf(w, "\nshadow revision: %s (sample %g)\n", sh.Revision, sh.Sample)
	fmt.Fprintf(w, "evaluated %d, disagreed %d, dropped %d, errors %d\n", sh.Evaluated, sh.Disagreed, sh.Dropped, sh.Errors)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(sh.ByCodes) > 0 {
		fmt.Fprintln(tw, "ACTIVE\tSHADOW\tCALLS")
		for _, c := range sh.ByCodes {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Active, c.Shadow, c.Count)
		}
	}
	if len(sh.Examples) > 0 {
		fmt.Fprintln(tw, "\nTIME\tAGENT\tACTION\tRESOURCE\tACTIVE → SHADOW\tRULES")
		for _, d := range sh.Examples {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s → %s\t%s\n", d.Time.Format(time.RFC3339), d.AgentID, d.Action, d.Resource, d.ActiveCode, d.ShadowCode, strings.Join(d.Rules, "; "))
		}
	}
	tw.Flush()
}
