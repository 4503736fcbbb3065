package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// agentCanCmd shows what an agent may do: its effective grants, delegated ones included,
// optionally only those covering an action and resources of a type.
func agentCanCmd(g *globals) *cobra.Command {
	var action, resourceType string
	cmd := &cobra.Command{
		Use:   "can AGENT_ID [--action A] [--resource-type T]",
		Short: "Show what an agent may do: its own and delegated grants, with their constraints",
		Long: `Show the agent's effective grants: its own permissions and the delegated grants still
covered, each with its delegation chain and a summary of its constraints. --action keeps the
grants that cover that action; --resource-type T keeps those that can match resources of
type T (T:…). What a call is finally allowed still depends on its arguments, address, time,
approvals, rate and custom rules: ask with "kavach authorize --dry-run".`,
		Example: `  kavach agent can agt_01… --action read --resource-type mcp:github`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*api.Capabilities, error) {
				c, err := k.Agents().Capabilities(ctx, args[0])
				if err != nil {
					return nil, err
				}
				c.Capabilities = slices.DeleteFunc(c.Capabilities, func(x api.Capability) bool {
					return !covers(x, action, resourceType)
				})
				return c, nil
			}, writeCapabilities)
		},
	}
	cmd.Flags().StringVar(&action, "action", "", "only grants that cover this action")
	cmd.Flags().StringVar(&resourceType, "resource-type", "", "only grants that can match resources of this type (its leading segments)")
	return cmd
}

// covers reports whether a grant covers the action (any when empty) and can match some
// resource of the type (any when empty): the type's segments followed by at least one more.
func covers(c api.Capability, action, resourceType string) bool {
	if action != "" && !slices.Contains(c.Actions, "*") && !slices.Contains(c.Actions, action) {
		return false
	}
	if resourceType == "" || c.Resource == "*" {
		return true
	}
	typ := strings.Split(resourceType, ":")
	pat := strings.Split(c.Resource, ":")
	for i, seg := range typ {
		if i >= len(pat) {
			return false
		}
		if pat[i] == "*" && i == len(pat)-1 {
			return true // a trailing * matches the rest
		}
		if pat[i] != "*" && pat[i] != seg {
			return false
		}
	}
	return len(pat) > len(typ)
}

func writeCapabilities(cmd *cobra.Command, c *api.Capabilities) error {
	out := cmd.OutOrStdout()
	if c.Status != agent.StatusActive {
		fmt.Fprintf(out, "agent %s is %s: it may do nothing\n", c.AgentID, c.Status)
		return nil
	}
	if len(c.Capabilities) == 0 {
		fmt.Fprintf(out, "agent %s has no grant that matches\n", c.AgentID)
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RESOURCE\tACTIONS\tVIA\tCONSTRAINTS")
	for _, x := range c.Capabilities {
		via := strings.Join(x.Via, " > ")
		if via == "" {
			via = "own"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", x.Resource, strings.Join(x.Actions, ","), via, constraintSummary(x.Constraints))
	}
	return w.Flush()
}

func constraintSummary(c *api.CapabilityConstraints) string {
	if c == nil {
		return "-"
	}
	var parts []string
	if len(c.IPAllowlist) > 0 {
		parts = append(parts, "ip allowlist")
	}
	if len(c.TimeWindows) > 0 {
		parts = append(parts, "time windows")
	}
	if len(c.ArgumentPatterns) > 0 {
		names := make([]string, 0, len(c.ArgumentPatterns))
		for n := range c.ArgumentPatterns {
			names = append(names, n)
		}
		slices.Sort(names)
		parts = append(parts, "arguments "+strings.Join(names, ","))
	}
	for _, r := range c.RateLimit {
		parts = append(parts, fmt.Sprintf("rate %d/%s", r.Max, r.Window))
	}
	if c.Approval != nil && c.Approval.Required {
		parts = append(parts, "approval")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}
