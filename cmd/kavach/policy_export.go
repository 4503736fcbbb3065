package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/policies"
)

// policyExportCmd writes the embedded policies of this build, so that custom rules can be
// tested offline against exactly the decision this version makes, with stock opa test.
func policyExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export DIR",
		Short: "Write this version's embedded policies (package kavach.*) into DIR, for opa test DIR my-rules/",
		Example: `  kavach policy export kavach-policies
  opa test kavach-policies bundles/example`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mods, err := policies.Modules()
			if err != nil {
				return err
			}
			revision, err := engine.CheckPolicySet(cmd.Context(), nil)
			if err != nil {
				return err
			}
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, m := range mods {
				file := filepath.Join(dir, path.Base(m.Name))
				if err := os.WriteFile(file, []byte(m.Source), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", file)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "embedded policies %s: test custom rules against them with opa test %s DIR…\n", revision, dir)
			return nil
		},
	}
}
