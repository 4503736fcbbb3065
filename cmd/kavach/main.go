// Command kavach runs and administers Kavach: migrate a database, manage tenants and agents.
// Working directly on a database, the CLI acts as root.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/api"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globals are the flags every command shares.
type globals struct {
	database string
	output   string
	server   string // with apiKey, manage a running server instead of a database
	apiKey   string
	// configFile and audit are the settings of the audit signing key and witness, read as
	// serve reads them; flags is the running command's, to tell which were given.
	configFile string
	audit      auditSettings
	flags      *pflag.FlagSet
	// cmd is the running command; note, if set, is said on stderr once it has succeeded.
	cmd    *cobra.Command
	stderr io.Writer
	note   string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stderr: stderr}
	root := &cobra.Command{
		Use:           "kavach",
		Short:         "Authorization for AI agents: identities, permissions, delegation and audit",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != "table" && g.output != "json" {
				return fmt.Errorf("--output must be table or json, not %q", g.output)
			}
			g.flags, g.cmd = cmd.Flags(), cmd
			return nil
		},
		PersistentPostRun: func(*cobra.Command, []string) {
			if g.note != "" {
				fmt.Fprintln(stderr, g.note)
			}
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.database, "database", envOr("KAVACH_DATABASE", kavach.DefaultDatabase),
		"database URL: sqlite://PATH or postgres://… (env KAVACH_DATABASE)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&g.server, "server", os.Getenv("KAVACH_SERVER"), "manage a running server at this URL instead of a database (env KAVACH_SERVER)")
	pf.StringVar(&g.apiKey, "api-key", os.Getenv("KAVACH_API_KEY"), "the API key to act as with --server (env KAVACH_API_KEY)")
	bindAuditFlags(pf, g)

	policy := policyCmd(g)
	policy.AddCommand(policyReplayCmd(g))
	root.AddCommand(serveCmd(g), apiKeyCmd(g), migrateCmd(g), tenantCmd(g), agentCmd(g), authorizeCmd(g), approvalsCmd(g), policy, delegateCmd(g), delegationCmd(g), auditCmd(g), bundleCmd(), gatewayCmd(g))
	if err := root.ExecuteContext(ctx); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			if exit.err != nil {
				fmt.Fprintln(stderr, "error:", describe(exit.err))
			}
			return exit.code
		}
		fmt.Fprintln(stderr, "error:", describe(err))
		return 1
	}
	return 0
}

// describe renders an error for a person: the field for bad input, the reason for a
// refused token.
func describe(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		msg := ae.Error()
		if ae.Field != "" && ae.Message == "" {
			msg = "invalid " + ae.Field
		}
		if ae.Reason != "" {
			msg += " (" + ae.Reason + ")"
		}
		return msg
	}
	return err.Error()
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// open opens Kavach on the configured database and returns a context acting as root.
func (g *globals) open(ctx context.Context) (*kavach.Kavach, context.Context, error) {
	ac, err := g.auditConfig()
	if err != nil {
		return nil, nil, err
	}
	k, err := kavach.Open(ctx, kavach.Config{Database: g.database, Audit: ac})
	if err != nil {
		return nil, nil, err
	}
	g.noteRunningServe()
	return k, kavach.WithActor(ctx, api.Root), nil
}

// Exit codes besides 0 and 1, for scripts and pipelines.
const (
	exitDenied  = 2 // authorize: the call was denied
	exitRefused = 2 // policy replay: the candidate was refused (does not compile, fails its tests, bad signature)
	exitChanged = 3 // policy replay: the candidate changes at least one decision
)

// exitError ends the command with code, printing err if there is one.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e exitError) Unwrap() error { return e.err }
