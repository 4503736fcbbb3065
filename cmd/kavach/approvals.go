package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

func approvalsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "approvals", Short: "List and decide human-approval requests"}
	var req api.ListApprovalsRequest
	var status string
	list := &cobra.Command{
		Use:   "list",
		Short: "List approval requests (pending by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Status = agent.ApprovalStatus(status)
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*api.ApprovalList, error) {
				return k.Approvals().List(ctx, req)
			}, writeApprovalTable)
		},
	}
	list.Flags().StringVar(&status, "status", "pending", "pending, approved, denied, expired or used")
	list.Flags().StringVar(&req.AgentID, "agent", "", "only this agent's requests")
	list.Flags().IntVar(&req.Limit, "limit", 0, "at most this many (default 50)")

	var (
		uses   int
		ttl    time.Duration
		reason string
	)
	approve := &cobra.Command{
		Use:   "approve APPROVAL_ID",
		Short: "Approve a pending request: the call is then allowed --uses times within --ttl",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*agent.ApprovalRequest, error) {
				return k.Approvals().Approve(ctx, args[0], api.ApproveRequest{Reason: reason, Uses: uses, TTL: agent.Duration(ttl)})
			}, writeApproval)
		},
	}
	approve.Flags().IntVar(&uses, "uses", 1, "how many calls the approval allows")
	approve.Flags().DurationVar(&ttl, "ttl", 0, "how long the approval lasts (default: the permission's approval.ttl)")
	approve.Flags().StringVar(&reason, "reason", "", "why")
	var denyReason string
	deny := &cobra.Command{
		Use:   "deny APPROVAL_ID",
		Short: "Deny a pending request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*agent.ApprovalRequest, error) {
				return k.Approvals().Deny(ctx, args[0], api.DenyRequest{Reason: denyReason})
			}, writeApproval)
		},
	}
	deny.Flags().StringVar(&denyReason, "reason", "", "why")
	cmd.AddCommand(list, approve, deny)
	return cmd
}

func writeApprovalTable(cmd *cobra.Command, l *api.ApprovalList) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGENT\tACTION\tRESOURCE\tARGUMENTS\tSTATUS\tEXPIRES")
	for _, a := range l.Approvals {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.AgentID, a.Action, a.Resource,
			compactJSON(a.Arguments), a.Status, a.ExpiresAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func writeApproval(cmd *cobra.Command, a *agent.ApprovalRequest) error {
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s %s %s\n", a.ID, a.Status, a.Action, a.Resource, compactJSON(a.Arguments))
	return nil
}
