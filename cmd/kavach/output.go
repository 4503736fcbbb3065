package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kavachos/kavach-go/agent"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// show prints v: as JSON with -o json, otherwise with table.
func show[T any](cmd *cobra.Command, g *globals, v T, table func(cmd *cobra.Command, v T) error) error {
	if g.output == "json" {
		return writeJSON(cmd.OutOrStdout(), v)
	}
	return table(cmd, v)
}

func writeAgentTable(w io.Writer, agents []agent.Agent) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOWNER\tNAME\tTYPE\tSTATUS\tTOKEN\tEXPIRES\tPERMISSIONS")
	for _, a := range agents {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s…\t%s\t%s\n", a.ID, a.OwnerID, a.Name, a.Type, a.Status,
			a.TokenPrefix, expiry(a.ExpiresAt), permSummary(a.Permissions))
	}
	tw.Flush()
}

func writeAgent(cmd *cobra.Command, a *agent.Agent) error {
	writeAgentFields(cmd.OutOrStdout(), a, "")
	return nil
}

// writeAgentToken prints an agent with the token just issued for it in place of the token's
// prefix, and on stderr a reminder that the token is not shown again.
func writeAgentToken(cmd *cobra.Command, a *agent.Agent, token, reminder string) {
	writeAgentFields(cmd.OutOrStdout(), a, token)
	fmt.Fprintln(cmd.ErrOrStderr(), reminder)
}

// writeAgentFields prints an agent one field a line; token, when given, is shown whole
// where otherwise only its stored prefix is.
func writeAgentFields(w io.Writer, a *agent.Agent, token string) {
	if token == "" {
		token = a.TokenPrefix + "…"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\n", a.ID)
	fmt.Fprintf(tw, "tenant:\t%s\n", a.TenantID)
	fmt.Fprintf(tw, "owner:\t%s\n", a.OwnerID)
	fmt.Fprintf(tw, "name:\t%s\n", a.Name)
	fmt.Fprintf(tw, "type:\t%s\n", a.Type)
	fmt.Fprintf(tw, "status:\t%s\n", a.Status)
	fmt.Fprintf(tw, "token:\t%s\n", token)
	fmt.Fprintf(tw, "expires:\t%s\n", expiry(a.ExpiresAt))
	fmt.Fprintf(tw, "created:\t%s\n", a.CreatedAt.Format(time.RFC3339))
	for _, p := range a.Permissions {
		c := ""
		if p.Constraints != nil {
			b, _ := json.Marshal(p.Constraints)
			c = " " + string(b)
		}
		fmt.Fprintf(tw, "permission:\t%s %s=%s%s\n", p.ID, p.Resource, strings.Join(p.Actions, ","), c)
	}
	for k, v := range a.Metadata {
		fmt.Fprintf(tw, "metadata:\t%s=%s\n", k, v)
	}
	tw.Flush()
}

func expiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format(time.RFC3339)
}

func permSummary(ps []agent.Permission) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Resource + "=" + strings.Join(p.Actions, ",")
	}
	return strings.Join(parts, " ")
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}
