package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
)

// callFlags describe one call to authorize or explain.
type callFlags struct {
	agentID  string
	token    string
	action   string
	resource string
	args     []string
	argsJSON string
	ip       string
	at       string
}

func (c *callFlags) register(cmd *cobra.Command, withToken bool) {
	f := cmd.Flags()
	f.StringVar(&c.agentID, "agent", "", "agent id")
	if withToken {
		f.StringVar(&c.token, "token", "", "decide for the agent holding this kv_ token (or env KAVACH_AGENT_TOKEN)")
	}
	f.StringVar(&c.action, "action", "", "action, e.g. read (required)")
	f.StringVar(&c.resource, "resource", "", "resource, e.g. mcp:github:repos (required)")
	f.StringArrayVar(&c.args, "arg", nil, "argument NAME=VALUE, a string (repeatable)")
	f.StringVar(&c.argsJSON, "args-json", "", "arguments as a JSON object")
	f.StringVar(&c.ip, "ip", "", "client IP address")
	f.StringVar(&c.at, "at", "", "decide as of this RFC 3339 time (default now)")
	cmd.MarkFlagRequired("action")
	cmd.MarkFlagRequired("resource")
}

func (c *callFlags) request() (api.AuthorizeRequest, api.CallContext, error) {
	req := api.AuthorizeRequest{Action: c.action, Resource: c.resource}
	if c.argsJSON != "" {
		if err := json.Unmarshal([]byte(c.argsJSON), &req.Arguments); err != nil {
			return req, api.CallContext{}, fmt.Errorf("--args-json: want a JSON object: %w", err)
		}
	}
	for _, kv := range c.args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return req, api.CallContext{}, fmt.Errorf("--arg %q: want NAME=VALUE", kv)
		}
		if req.Arguments == nil {
			req.Arguments = map[string]any{}
		}
		req.Arguments[k] = v
	}
	cc := api.CallContext{IP: c.ip}
	if c.at != "" {
		t, err := time.Parse(time.RFC3339, c.at)
		if err != nil {
			return req, cc, fmt.Errorf("--at: want an RFC 3339 time")
		}
		cc.Time = t
	}
	return req, cc, nil
}

func authorizeCmd(g *globals) *cobra.Command {
	var (
		c      callFlags
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "authorize",
		Short: "Decide whether an agent may make a call (exit status 0 allowed, 2 denied)",
		Example: `  kavach authorize --agent agt_… --action read --resource mcp:github:repos
  kavach authorize --token kv_… --action push --resource mcp:github:repos --arg branch=dev --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.token == "" {
				c.token = os.Getenv("KAVACH_AGENT_TOKEN")
			}
			if (c.agentID == "") == (c.token == "") {
				return fmt.Errorf("give exactly one of --agent or --token")
			}
			req, cc, err := c.request()
			if err != nil {
				return err
			}
			req.DryRun = dryRun
			if !cc.Time.IsZero() && !dryRun {
				return fmt.Errorf("--at asks about another time and needs --dry-run: real calls are decided now")
			}
			return g.withSession(cmd, func(ctx context.Context, k session) error {
				var (
					d   *api.Decision
					err error
				)
				if c.token != "" {
					d, err = k.AuthorizeToken(ctx, c.token, req, cc)
				} else {
					d, err = k.Authorize(ctx, c.agentID, req, cc)
				}
				if err != nil {
					return err
				}
				if err := show(cmd, g, d, writeDecision); err != nil {
					return err
				}
				if !d.Allowed {
					return exitError{code: exitDenied} // the denial is printed already
				}
				return nil
			})
		},
	}
	c.register(cmd, true)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check only: take no rate slot, open no approval request")
	return cmd
}

func writeDecision(cmd *cobra.Command, d *api.Decision) error {
	w := cmd.OutOrStdout()
	verdict := "DENIED"
	if d.Allowed {
		verdict = "ALLOWED"
	}
	fmt.Fprintf(w, "%s  %s: %s\n", verdict, d.Code, d.Reason)
	if d.Grant != "" {
		fmt.Fprintf(w, "grant:       %s\n", d.Grant)
	}
	if len(d.Via) > 0 {
		fmt.Fprintf(w, "via:         %s\n", strings.Join(d.Via, " → "))
	}
	if d.ApprovalID != "" {
		fmt.Fprintf(w, "approval:    %s\n", d.ApprovalID)
	}
	if d.RetryAfter > 0 {
		fmt.Fprintf(w, "retry after: %s\n", d.RetryAfter)
	}
	fmt.Fprintf(w, "audit id:    %s\n", d.AuditID)
	return nil
}

func policyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Test and explain Rego policies"}
	var verbose bool
	test := &cobra.Command{
		Use:   "test [PATH…]",
		Short: "Run Rego tests (test_* rules) against the embedded policies (default path: tests/rego)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"tests/rego"}
			}
			results, err := engine.RunPolicyTests(cmd.Context(), args)
			if err != nil {
				return err
			}
			if len(results) == 0 {
				return fmt.Errorf("no Rego tests found in %s", strings.Join(args, ", "))
			}
			if _, failed := engine.WriteTestReport(cmd.OutOrStdout(), results, verbose); failed > 0 {
				return fmt.Errorf("%d Rego tests failed", failed)
			}
			return nil
		},
	}
	test.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every test")

	eval := policyEvalCmd(g)
	cmd.AddCommand(test, eval, policyStatusCmd(g), policyExportCmd())
	return cmd
}
