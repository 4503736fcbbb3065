package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/client"
)

// session is what the management commands work through: the embedded facade on a database
// (acting as root), or, with --server, the HTTP client of a running server acting as the
// caller its --api-key names. Both speak api.Kavach.
type session interface {
	api.Kavach
	Close() error
}

// remoteSession is a server reached over HTTP; it holds nothing to release.
type remoteSession struct{ *client.Client }

func (remoteSession) Close() error { return nil }

// session opens the local database, or connects to --server.
func (g *globals) session(ctx context.Context) (session, context.Context, error) {
	if g.server == "" {
		if g.apiKey != "" {
			source := "KAVACH_API_KEY"
			if g.flags != nil && g.flags.Changed("api-key") {
				source = "--api-key"
			}
			fmt.Fprintf(g.stderr, "warning: %s is ignored without --server (or KAVACH_SERVER): working directly on %s as root\n",
				source, redacted(g.database))
		}
		k, ctx, err := g.open(ctx)
		if err != nil {
			return nil, nil, err
		}
		return k, ctx, nil
	}
	if g.apiKey == "" {
		return nil, nil, errors.New("--server needs an API key: --api-key kva_… or KAVACH_API_KEY")
	}
	c, err := client.New(g.server, g.apiKey, client.WithUserAgent("kavach-cli"))
	if err != nil {
		return nil, nil, err
	}
	return remoteSession{c}, ctx, nil
}

// withSession runs fn in a session opened for cmd and closes the session when fn returns.
func (g *globals) withSession(cmd *cobra.Command, fn func(ctx context.Context, k session) error) error {
	k, ctx, err := g.session(cmd.Context())
	if err != nil {
		return err
	}
	defer k.Close()
	return fn(ctx, k)
}

// runAndPrint makes one call in a session and prints its result with show.
func runAndPrint[T any](cmd *cobra.Command, g *globals, call func(ctx context.Context, k session) (T, error),
	table func(cmd *cobra.Command, v T) error) error {
	return g.withSession(cmd, func(ctx context.Context, k session) error {
		v, err := call(ctx, k)
		if err != nil {
			return err
		}
		return show(cmd, g, v, table)
	})
}
