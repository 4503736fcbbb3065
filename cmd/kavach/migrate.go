package main

import (
	"fmt"

	"github.com/spf13/cobra"

	kavach "github.com/kavachos/kavach-go"
)

func migrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the database schema",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Opening a store applies pending migrations; report what is there afterwards.
			s, err := kavach.OpenStore(cmd.Context(), g.database)
			if err != nil {
				return err
			}
			defer s.Close()
			n, err := s.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "database schema is up to date (%d pending migrations applied now)\n", n)
			return nil
		},
	}
}
