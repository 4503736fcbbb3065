package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

func agentCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Short: "Manage agents"}
	cmd.AddCommand(agentCreateCmd(g), agentListCmd(g), agentGetCmd(g), agentUpdateCmd(g),
		agentRotateCmd(g), agentRevokeCmd(g), agentCanCmd(g))
	return cmd
}

// permissionFlags collects permissions from --permission RESOURCE=ACTION[,ACTION] and
// --permissions-json (a JSON array, or @file).
type permissionFlags struct {
	simple []string
	json   string
}

func (p *permissionFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&p.simple, "permission", nil, "grant RESOURCE=ACTION[,ACTION…], e.g. 'mcp:github:*=read' (repeatable)")
	cmd.Flags().StringVar(&p.json, "permissions-json", "", "permissions with constraints as a JSON array, or @FILE")
}

func (p *permissionFlags) set() bool { return len(p.simple) > 0 || p.json != "" }

func (p *permissionFlags) parse() ([]agent.Permission, error) {
	var out []agent.Permission
	for _, s := range p.simple {
		i := strings.LastIndex(s, "=")
		if i <= 0 || i == len(s)-1 {
			return nil, fmt.Errorf("--permission %q: want RESOURCE=ACTION[,ACTION…]", s)
		}
		resource, actions := s[:i], s[i+1:]
		if swapped(resource, actions) {
			return nil, fmt.Errorf("--permission %q: want RESOURCE=ACTION[,ACTION…], the resource first; did you mean --permission '%s=%s'? "+
				"(for a resource without ':' and an action with one, use --permissions-json)", s, actions, resource)
		}
		out = append(out, agent.Permission{Resource: resource, Actions: strings.Split(actions, ",")})
	}
	if p.json != "" {
		raw := []byte(p.json)
		if name, ok := strings.CutPrefix(p.json, "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("--permissions-json: %w", err)
			}
			raw = b
		}
		var more []agent.Permission
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&more); err != nil {
			return nil, fmt.Errorf("--permissions-json: %w", err)
		}
		out = append(out, more...)
	}
	return out, nil
}

// swapped reports whether RESOURCE=ACTION was most likely written ACTION=RESOURCE, as in
// "read=mcp:github:*": resource patterns name their kind with ':', actions seldom do.
func swapped(resource, actions string) bool {
	return !strings.Contains(resource, ":") && strings.Contains(actions, ":")
}

// expiryFlags reads --expires-in or --expires-at.
type expiryFlags struct {
	in time.Duration
	at string
}

func (e *expiryFlags) register(cmd *cobra.Command) {
	cmd.Flags().Var(durationValue{&e.in}, "expires-in", "expire after this long: 90m, 24h, 7d or 1d12h (d is 24h)")
	cmd.Flags().StringVar(&e.at, "expires-at", "", "expire at this RFC 3339 time")
	cmd.MarkFlagsMutuallyExclusive("expires-in", "expires-at")
}

func (e *expiryFlags) parse() (*time.Time, error) {
	switch {
	case e.in != 0:
		t := time.Now().Add(e.in)
		return &t, nil
	case e.at != "":
		t, err := time.Parse(time.RFC3339, e.at)
		if err != nil {
			return nil, fmt.Errorf("--expires-at: want an RFC 3339 time such as 2026-12-31T23:59:00Z")
		}
		return &t, nil
	}
	return nil, nil
}

func parseMetadata(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--metadata %q: want KEY=VALUE", kv)
		}
		m[k] = v
	}
	return m, nil
}

func agentCreateCmd(g *globals) *cobra.Command {
	var (
		req   api.CreateAgentRequest
		typ   string
		perms permissionFlags
		exp   expiryFlags
		meta  []string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an agent and print its token (shown only once)",
		Example: `  kavach agent create --owner user_1 --name reviewer --permission 'mcp:github:*=read'
  kavach agent create --owner user_1 --name deployer --permissions-json @perms.json --expires-in 30d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if req.Permissions, err = perms.parse(); err != nil {
				return err
			}
			if req.ExpiresAt, err = exp.parse(); err != nil {
				return err
			}
			if req.Metadata, err = parseMetadata(meta); err != nil {
				return err
			}
			req.Type = agent.Type(typ)
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*api.AgentWithToken, error) {
				return k.Agents().Create(ctx, req)
			}, func(cmd *cobra.Command, a *api.AgentWithToken) error {
				writeAgentToken(cmd, &a.Agent, a.Token, "Store the token now: it is not shown again (rotate to get a new one).")
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.OwnerID, "owner", "", "owner id: the human the agent acts for (required)")
	f.StringVar(&req.Name, "name", "", "agent name (required)")
	f.StringVar(&typ, "type", "autonomous", "autonomous, delegated or service")
	f.StringVar(&req.TenantID, "tenant", "", "tenant id (default: default)")
	f.StringArrayVar(&meta, "metadata", nil, "KEY=VALUE (repeatable)")
	perms.register(cmd)
	exp.register(cmd)
	cmd.MarkFlagRequired("owner")
	cmd.MarkFlagRequired("name")
	return cmd
}

func agentListCmd(g *globals) *cobra.Command {
	var (
		req    api.ListAgentsRequest
		status string
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List agents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Status = agent.Status(status)
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*api.AgentList, error) {
				page, err := k.Agents().List(ctx, req)
				if err != nil {
					return nil, err
				}
				for all && page.NextCursor != "" {
					req.Cursor = page.NextCursor
					next, err := k.Agents().List(ctx, req)
					if err != nil {
						return nil, err
					}
					page.Agents = append(page.Agents, next.Agents...)
					page.NextCursor = next.NextCursor
				}
				if page.Agents == nil {
					page.Agents = []agent.Agent{}
				}
				return page, nil
			}, func(cmd *cobra.Command, page *api.AgentList) error {
				writeAgentTable(cmd.OutOrStdout(), page.Agents)
				if page.NextCursor != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "more: --cursor %s (or --all)\n", page.NextCursor)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.OwnerID, "owner", "", "only this owner's agents")
	f.StringVar(&status, "status", "", "only agents with this status (active or revoked)")
	f.StringVar(&req.TenantID, "tenant", "", "tenant id (default: default)")
	f.IntVar(&req.Limit, "limit", 0, "page size (default 50, at most 1000)")
	f.StringVar(&req.Cursor, "cursor", "", "continue from a previous page")
	f.BoolVar(&all, "all", false, "fetch every page")
	return cmd
}

// agentAction builds a command that takes an agent id and prints the resulting agent.
func agentAction(g *globals, use, short string, do func(ctx context.Context, cmd *cobra.Command, k api.Agents, id string) (*agent.Agent, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use + " AGENT_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*agent.Agent, error) {
				return do(ctx, cmd, k.Agents(), args[0])
			}, writeAgent)
		},
	}
}

func agentGetCmd(g *globals) *cobra.Command {
	return agentAction(g, "get", "Show an agent", func(ctx context.Context, _ *cobra.Command, k api.Agents, id string) (*agent.Agent, error) {
		return k.Get(ctx, id)
	})
}

func agentRevokeCmd(g *globals) *cobra.Command {
	return agentAction(g, "revoke", "Revoke an agent for good", func(ctx context.Context, _ *cobra.Command, k api.Agents, id string) (*agent.Agent, error) {
		return k.Revoke(ctx, id)
	})
}

func agentUpdateCmd(g *globals) *cobra.Command {
	var (
		name  string
		perms permissionFlags
		exp   expiryFlags
		meta  []string
	)
	cmd := agentAction(g, "update", "Change an agent's name, permissions (replaced as a whole), expiry or metadata",
		func(ctx context.Context, cmd *cobra.Command, k api.Agents, id string) (*agent.Agent, error) {
			var req api.UpdateAgentRequest
			if cmd.Flags().Changed("name") {
				req.Name = &name
			}
			if perms.set() {
				ps, err := perms.parse()
				if err != nil {
					return nil, err
				}
				req.Permissions = &ps
			}
			t, err := exp.parse()
			if err != nil {
				return nil, err
			}
			req.ExpiresAt = t
			if len(meta) > 0 {
				m, err := parseMetadata(meta)
				if err != nil {
					return nil, err
				}
				req.Metadata = &m
			}
			return k.Update(ctx, id, req)
		})
	cmd.Flags().StringVar(&name, "name", "", "new name")
	cmd.Flags().StringArrayVar(&meta, "metadata", nil, "replace metadata with KEY=VALUE pairs (repeatable)")
	perms.register(cmd)
	exp.register(cmd)
	return cmd
}

func agentRotateCmd(g *globals) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "rotate AGENT_ID",
		Short: "Issue a new token; the old one stops working (after --grace, if given)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*api.RotateResult, error) {
				return k.Agents().Rotate(ctx, args[0], api.RotateRequest{GracePeriod: agent.Duration(grace)})
			}, func(cmd *cobra.Command, res *api.RotateResult) error {
				writeAgentToken(cmd, &res.Agent, res.Token, "Store the token now: it is not shown again.")
				return nil
			})
		},
	}
	cmd.Flags().Var(durationValue{&grace}, "grace", "keep the old token valid this long: 10m, 24h or 1d (d is 24h; at most 7d)")
	return cmd
}
