package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kavachos/kavach-go/engine"
)

func bundleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bundle", Short: "Build, sign and inspect policy bundles (custom rules as code)"}
	var (
		out, revision string
		key           engine.BundleKey
	)
	build := &cobra.Command{
		Use:     "build DIR",
		Short:   "Pack custom rules, their tests and data (laid out under kavach/custom/) into a bundle",
		Example: `  kavach bundle build bundles/example -o bundle.tar.gz --revision "$(git rev-parse --short HEAD)" --signing-key signing.pem`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if revision == "" {
				revision = time.Now().UTC().Format("20060102T150405Z")
			}
			var sign *engine.BundleKey
			if key.Key != "" {
				sign = &key
			}
			w := cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			if err := engine.BuildBundle(args[0], revision, sign, w); err != nil {
				return err
			}
			if out != "" && out != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (revision %s, signed: %v)\n", out, revision, sign != nil)
			}
			return nil
		},
	}
	build.Flags().StringVarP(&out, "output", "o", "", "bundle file to write (default: standard output)")
	build.Flags().StringVar(&revision, "revision", "", "revision to stamp (default: the current UTC time)")
	build.Flags().StringVar(&key.Key, "signing-key", "", "sign with this PEM private key or HMAC secret (inline or a file path)")
	bindKeyFlags(build, &key, "sign with")

	var verify engine.BundleKey
	inspect := &cobra.Command{
		Use:   "inspect FILE|DIR|URL",
		Short: "Show a bundle's revision, rules and data, and run the checks a server runs before activating it",
		Long: `Show a bundle's revision, rules and data, and run the checks a server runs before it
activates a revision: with --verification-key the signature, then roots and packages
inside kavach.custom, compiling with this version's embedded policies, and every test
the bundle carries passing. Exits 1 with the server's refusal when one fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var vk *engine.BundleKey
			if verify.Key != "" {
				vk = &verify
			}
			ps, err := engine.LoadBundle(cmd.Context(), engine.BundleSource{Location: args[0], Key: vk})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "revision:  %s\n", ps.Revision)
			fmt.Fprintf(w, "signature: %s\n", map[bool]string{true: "verified", false: "not checked (no --verification-key)"}[vk != nil])
			for _, m := range ps.Modules {
				fmt.Fprintf(w, "module:    %s\n", m.Name)
			}
			keys := make([]string, 0, len(ps.Data))
			for k := range ps.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "data:      kavach.custom.%s\n", k)
			}
			if _, err := engine.CheckPolicySet(cmd.Context(), ps); err != nil {
				fmt.Fprintln(w, "checks:    refused")
				return fmt.Errorf("a server refuses this bundle: %w", err)
			}
			fmt.Fprintln(w, "checks:    passed (packages in kavach.custom, compiles with the embedded policies, its tests pass)")
			return nil
		},
	}
	inspect.Flags().StringVar(&verify.Key, "verification-key", "", "PEM public key or HMAC secret (inline or a file path)")
	bindKeyFlags(inspect, &verify, "verify with")
	cmd.AddCommand(build, inspect)
	return cmd
}

// bindKeyFlags adds the key id, algorithm and scope of a bundle signing or verification key.
func bindKeyFlags(cmd *cobra.Command, key *engine.BundleKey, what string) {
	cmd.Flags().StringVar(&key.KeyID, "key-id", "", "key id in the signature (default kavach)")
	cmd.Flags().StringVar(&key.Alg, "alg", "", "algorithm to "+what+": "+strings.Join(engine.BundleAlgs, ", ")+
		" (default: RS256 for RSA, ES256/ES384/ES512 by the curve, HS256 for a secret)")
	cmd.Flags().StringVar(&key.Scope, "scope", "", "scope claim of the signature (default: none)")
}

func policyStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the active policy revision of a server (--server) or of the local configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, ctx, err := g.session(cmd.Context())
			if err != nil {
				return err
			}
			defer k.Close()
			st, err := k.PolicyStatus(ctx)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revision: %s\nsource:   %s\nactive since: %s\n", st.Revision, st.Source, st.ActivatedAt.Format(time.RFC3339))
			if st.LastError != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "last refused (%s): %s\n", st.LastErrorAt.Format(time.RFC3339), st.LastError)
			}
			if st.Shadow != nil {
				writeShadowStatus(cmd.OutOrStdout(), st.Shadow)
			}
			return nil
		},
	}
}
