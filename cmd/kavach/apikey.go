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

func apiKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "api-key", Short: "Manage the API keys callers of the HTTP API present"}
	var req api.CreateAPIKeyRequest
	var role string
	create := &cobra.Command{
		Use:   "create --role root|admin|app|user [--tenant T] [--owner O] [--name N]",
		Short: "Create an API key; its secret is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Role = api.Role(role)
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*api.APIKeyWithSecret, error) {
				return k.APIKeys().Create(ctx, req)
			}, func(cmd *cobra.Command, key *api.APIKeyWithSecret) error {
				fmt.Fprintf(cmd.OutOrStdout(), "created %s key %s (tenant %q, owner %q)\nkey: %s\n",
					key.Role, key.ID, key.TenantID, key.OwnerID, key.Key)
				return nil
			})
		},
	}
	create.Flags().StringVar(&role, "role", "", "root, admin, app or user")
	create.Flags().StringVar(&req.TenantID, "tenant", "", "the key's tenant (default: the caller's; none for root)")
	create.Flags().StringVar(&req.OwnerID, "owner", "", "the owner a user key acts as")
	create.Flags().StringVar(&req.Name, "name", "", "a name to recognise the key by")
	_ = create.MarkFlagRequired("role")

	var filter api.ListAPIKeysRequest
	list := &cobra.Command{
		Use:   "list [--tenant T] [--owner O]",
		Short: "List API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*api.APIKeyList, error) {
				return k.APIKeys().List(ctx, filter)
			}, writeAPIKeyTable)
		},
	}
	list.Flags().StringVar(&filter.TenantID, "tenant", "", "only this tenant's keys")
	list.Flags().StringVar(&filter.OwnerID, "owner", "", "only this owner's keys")

	revoke := &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke an API key for good",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*agent.APIKey, error) {
				return k.APIKeys().Revoke(ctx, args[0])
			}, func(cmd *cobra.Command, key *agent.APIKey) error {
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", key.ID)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke, apiKeyMintCmd(g))
	return cmd
}

// apiKeyMintCmd prints a fresh key and stores it nowhere: the way to make a
// KAVACH_BOOTSTRAP_ADMIN_KEY, which must be well formed (a checksum included).
func apiKeyMintCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "mint",
		Short: "Print a fresh API key without storing it (for KAVACH_BOOTSTRAP_ADMIN_KEY); no database is touched",
		Long: `Print a fresh, well-formed API key (kva_…, with its checksum) and store it nowhere. Serve
takes it as the root key of a database that has none yet:

  export KAVACH_BOOTSTRAP_ADMIN_KEY=$(kavach api-key mint)
  kavach serve

To make a key for a database that already has keys, use api-key create.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, g, mintedKey{Key: agent.MintAPIKey()}, func(cmd *cobra.Command, m mintedKey) error {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), m.Key)
				return err
			})
		},
	}
}

// mintedKey is what api-key mint prints with -o json.
type mintedKey struct {
	Key string `json:"key"`
}

func writeAPIKeyTable(cmd *cobra.Command, l *api.APIKeyList) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tTENANT\tOWNER\tNAME\tKEY\tCREATED\tREVOKED")
	for _, x := range l.Keys {
		revoked := ""
		if x.RevokedAt != nil {
			revoked = x.RevokedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s…\t%s\t%s\n", x.ID, x.Role, x.TenantID, x.OwnerID, x.Name,
			x.Prefix, x.CreatedAt.Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}
