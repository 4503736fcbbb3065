package main

import (
	"fmt"
	"io"
	"os"
	"sort"
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
	build.Flags().StringVar(&key.KeyID, "key-id", "", "key id in the signature (default kavach)")
	build.Flags().StringVar(&key.Alg, "alg", "", "signature algorithm (default: RS256 or ES256 from the key, HS256 for a secret)")

	var verify engine.BundleKey
	inspect := &cobra.Command{
		Use:   "inspect FILE|DIR",
		Short: "Show a bundle's revision, rules and data; with --verification-key, check its signature",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var vk *engine.BundleKey
			if verify.Key != "" {
				vk = &verify
			}
			ps, err := readBundleArg(args[0], vk)
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
			return nil
		},
	}
	inspect.Flags().StringVar(&verify.Key, "verification-key", "", "PEM public key or HMAC secret (inline or a file path)")
	inspect.Flags().StringVar(&verify.KeyID, "key-id", "", "key id (default kavach)")
	cmd.AddCommand(build, inspect)
	return cmd
}

func readBundleArg(path string, key *engine.BundleKey) (*engine.PolicySet, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return engine.ReadBundleDir(path, key)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return engine.ReadBundle(io.Reader(f), key)
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
			return nil
		},
	}
}
