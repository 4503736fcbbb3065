package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

func delegateCmd(g *globals) *cobra.Command {
	var (
		req   api.DelegateRequest
		perms permissionFlags
		exp   expiryFlags
	)
	cmd := &cobra.Command{
		Use:     "delegate",
		Short:   "Hand a subset of one agent's rights to another agent",
		Example: `  kavach delegate --from agt_orchestrator --to agt_worker --permission 'mcp:github:repos=read' --expires-in 1h`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if req.Permissions, err = perms.parse(); err != nil {
				return err
			}
			if req.ExpiresAt, err = exp.parse(); err != nil {
				return err
			}
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*agent.Delegation, error) {
				return k.Delegations().Delegate(ctx, req)
			}, writeDelegation)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.FromAgentID, "from", "", "the delegating agent (required)")
	f.StringVar(&req.ToAgentID, "to", "", "the receiving agent (required)")
	f.IntVar(&req.MaxDepth, "max-depth", 0, fmt.Sprintf("longest chain allowed below the root (default %d)", agent.DefaultMaxDepth))
	perms.register(cmd)
	exp.register(cmd)
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("to")
	return cmd
}

func delegationCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "delegation", Short: "List and revoke delegations"}
	var req api.ListDelegationsRequest
	list := &cobra.Command{
		Use:   "list",
		Short: "List delegations (of one agent with --agent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*api.DelegationList, error) {
				return k.Delegations().List(ctx, req)
			}, func(cmd *cobra.Command, l *api.DelegationList) error {
				return writeDelegationTable(cmd.OutOrStdout(), l.Delegations)
			})
		},
	}
	list.Flags().StringVar(&req.AgentID, "agent", "", "only this agent's delegations")
	list.Flags().StringVar(&req.Direction, "direction", "", "with --agent: from (given) or to (received); default both")
	revoke := &cobra.Command{
		Use:   "revoke DELEGATION_ID",
		Short: "Revoke a delegation; everything delegated through it stops at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*agent.Delegation, error) {
				return k.Delegations().Revoke(ctx, args[0])
			}, writeDelegation)
		},
	}
	cmd.AddCommand(list, revoke)
	return cmd
}

func writeDelegation(cmd *cobra.Command, d *agent.Delegation) error {
	return writeDelegationTable(cmd.OutOrStdout(), []agent.Delegation{*d})
}

func writeDelegationTable(w io.Writer, ds []agent.Delegation) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFROM\tTO\tDEPTH\tSTATUS\tEXPIRES\tPERMISSIONS")
	for _, d := range ds {
		var ps []string
		for _, p := range d.Permissions {
			ps = append(ps, p.Resource+"="+strings.Join(p.Actions, ","))
		}
		exp := "never"
		if d.ExpiresAt != nil {
			exp = d.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", d.ID, d.FromAgentID, d.ToAgentID, d.Depth, d.MaxDepth, d.Status, exp, strings.Join(ps, " "))
	}
	return tw.Flush()
}
