package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
)

// policyEvalCmd evaluates one call with the policy set the server has: locally, with the
// custom rules serve would load (flags, KAVACH_* variables, the --config file), or, with
// --server, by the running server's active revision.
func policyEvalCmd(g *globals) *cobra.Command {
	var (
		c       callFlags
		p       policyFlags
		explain string
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate the policy for one call and show which rules fired (no side effects)",
		Long: `Evaluate the policy for one call, with the custom rules the server has: those of
--policy-dir or --bundle (verified with --bundle-verification-key), defaulting as serve's
do to KAVACH_POLICY_DIR, KAVACH_BUNDLE… and the --config file. The agent is read from the
database, which must exist. With --server, the running server answers a dry run by its
active revision instead.`,
		Example: `  kavach policy eval --agent agt_… --action push --resource mcp:prod:repo --policy-dir bundles/example --explain notes
  kavach policy eval --agent agt_… --action push --resource mcp:prod:repo --bundle bundle.tar.gz --bundle-verification-key pub.pem
  kavach policy eval --server http://127.0.0.1:8080 --api-key kva_… --agent agt_… --action push --resource mcp:prod:repo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.agentID == "" {
				return errors.New("--agent is required")
			}
			req, cc, err := c.request()
			if err != nil {
				return err
			}
			if g.server != "" {
				return evalOnServer(cmd, g, &p, c.agentID, req, cc, explain)
			}
			return evalLocally(cmd, g, &p, c.agentID, req, cc, explain)
		},
	}
	c.register(cmd, false)
	p.register(cmd.Flags())
	cmd.Flags().StringVar(&explain, "explain", "", "show the evaluation trace: full, notes or fails")
	return cmd
}

// evalLocally evaluates on the local database with the configured custom rules, refused
// as the server would refuse them.
func evalLocally(cmd *cobra.Command, g *globals, p *policyFlags, agentID string, req api.AuthorizeRequest, cc api.CallContext, explain string) error {
	if err := requireDatabase(g.database); err != nil {
		return err
	}
	pc, err := p.resolve(g)
	if err != nil {
		return err
	}
	ps, err := pc.Load(cmd.Context())
	if err != nil {
		return err
	}
	k, _, err := g.open(cmd.Context())
	if err != nil {
		return err
	}
	defer k.Close()
	if ps != nil {
		if err := k.Engine().Activate(cmd.Context(), ps); err != nil {
			return fmt.Errorf("the server would refuse these custom rules: %w", err)
		}
	}
	now := cc.Time
	if now.IsZero() {
		now = time.Now()
	}
	w := cmd.OutOrStdout()
	var trace bytes.Buffer
	mode := explain
	if mode == "" {
		mode = engine.ExplainNotes
	}
	er := engine.Request{AgentID: agentID, Action: req.Action, Resource: req.Resource, Arguments: req.Arguments, IP: cc.IP, Now: now}
	doc, err := k.Engine().Explain(cmd.Context(), er, mode, &trace)
	if err != nil {
		return err
	}
	answer, err := k.Engine().Evaluate(cmd.Context(), nil, er)
	if err != nil {
		return err
	}
	held, err := k.Engine().Rules(cmd.Context(), nil, er)
	if err != nil {
		return err
	}
	out := evalResult{Revision: k.Engine().Status().Revision, Answer: answer, Rules: make([]string, len(held)), Decision: doc}
	for i, r := range held {
		out.Rules[i] = r.String()
	}
	if explain != "" {
		out.Trace = strings.Split(strings.TrimRight(trace.String(), "\n"), "\n")
	}
	if g.output == "json" {
		return writeJSON(w, out)
	}
	if explain != "" {
		fmt.Fprintf(w, "# trace\n%s", trace.String())
	}
	fmt.Fprintf(w, "# answer of revision %s (before rate limits and approvals on record are applied)\n", out.Revision)
	if err := writeJSON(w, answer); err != nil {
		return err
	}
	fmt.Fprintln(w, "# custom rules that held (deny and require_approval: how a revision changes an answer)")
	if len(out.Rules) == 0 {
		fmt.Fprintln(w, "none: the embedded policy alone decided")
	}
	for _, r := range out.Rules {
		fmt.Fprintln(w, r)
	}
	fmt.Fprintln(w, "# decision document")
	return writeJSON(w, doc)
}

// evalResult is policy eval's answer with -o json.
type evalResult struct {
	Revision string         `json:"revision"`
	Answer   engine.Outcome `json:"answer"`
	// Rules are the custom deny and require_approval rules that held, as file:row: head.
	Rules    []string `json:"rules"`
	Decision any      `json:"decision"`
	// Trace is the evaluation trace, with --explain.
	Trace []string `json:"trace,omitempty"`
}

// evalOnServer asks the running server for a dry run: its active revision answers, with no
// rate slot taken and no approval request opened; the check is audited.
func evalOnServer(cmd *cobra.Command, g *globals, p *policyFlags, agentID string, req api.AuthorizeRequest, cc api.CallContext, explain string) error {
	switch {
	case p.given(cmd.Flags()):
		return errors.New("--server answers with the server's own rules: --policy-dir, --bundle and the bundle key flags evaluate locally, without --server")
	case explain != "":
		return errors.New("--explain traces a local evaluation: give the server's rules with --policy-dir or --bundle instead of --server")
	case !cc.Time.IsZero():
		return errors.New("--at evaluates locally: a server decides at its own time")
	}
	return g.withSession(cmd, func(ctx context.Context, k session) error {
		st, err := k.PolicyStatus(ctx)
		if err != nil {
			return err
		}
		req.DryRun = true
		d, err := k.Authorize(ctx, agentID, req, cc)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "# decision of revision %s at %s (a dry run: no rate slot taken, no approval request opened)\n", st.Revision, g.server)
		return writeJSON(w, d)
	})
}

// requireDatabase refuses to evaluate against a SQLite file that does not exist, rather
// than create an empty database as a side effect.
func requireDatabase(database string) error {
	path, ok := strings.CutPrefix(database, "sqlite://")
	if !ok || path == "" || strings.HasPrefix(path, "file:") || strings.Contains(path, ":memory:") {
		return nil
	}
	path, _, _ = strings.Cut(path, "?")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("database %s does not exist: give the database the agents are in (--database or KAVACH_DATABASE), "+
			"or ask a running server with --server URL --api-key KEY", database)
	}
	return nil
}
