package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
)

// auditFilters are the flags shared by query, export and tail.
type auditFilters struct {
	q            api.AuditQuery
	since, until string
}

func (a *auditFilters) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&a.q.TenantID, "tenant", "", "tenant id (default: default)")
	f.StringVar(&a.q.AgentID, "agent", "", "only this agent's events")
	f.StringVar(&a.q.OwnerID, "owner", "", "only this owner's events")
	f.StringVar(&a.q.Action, "action", "", "only this action")
	f.StringVar(&a.q.Resource, "resource", "", "only resources matching this pattern, e.g. mcp:github:*")
	f.StringVar(&a.q.Result, "result", "", "allowed, denied, rate_limited, approval_required, check or ok")
	f.StringVar(&a.q.Code, "code", "", "only this decision code, e.g. NO_PERMISSION")
	f.StringVar(&a.q.TraceID, "trace-id", "", "only events of requests in this W3C trace (32 hex digits)")
	f.StringVar(&a.since, "since", "", "from this RFC 3339 time, or a duration ago (e.g. 24h)")
	f.StringVar(&a.until, "until", "", "before this RFC 3339 time, or a duration ago")
}

func (a *auditFilters) query() (api.AuditQuery, error) {
	q := a.q
	for _, x := range []struct {
		flag, v string
		dst     **time.Time
	}{{"--since", a.since, &q.Since}, {"--until", a.until, &q.Until}} {
		if x.v == "" {
			continue
		}
		t, err := api.ParseSince(x.v, time.Now())
		if err != nil {
			return q, fmt.Errorf("%s: want an RFC 3339 time or a duration such as 24h", x.flag)
		}
		*x.dst = &t
	}
	return q, nil
}

func auditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Query, export, verify and prune the audit ledger"}
	cmd.AddCommand(auditQueryCmd(g), auditExportCmd(g), auditVerifyCmd(g), auditTailCmd(g), auditPruneCmd(g),
		auditKeygenCmd(), auditPublicKeyCmd(g))
	return cmd
}

func auditQueryCmd(g *globals) *cobra.Command {
	var f auditFilters
	cmd := &cobra.Command{
		Use:   "query",
		Short: "List events, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := f.query()
			if err != nil {
				return err
			}
			return runAndPrint(cmd, g, func(ctx context.Context, k session) (*api.AuditPage, error) {
				return k.Audit().Query(ctx, q)
			}, func(cmd *cobra.Command, page *api.AuditPage) error {
				writeEvents(cmd.OutOrStdout(), page.Events)
				if page.NextCursor != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "more: --cursor %s\n", page.NextCursor)
				}
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&f.q.Limit, "limit", 0, "page size (default 50, at most 1000)")
	cmd.Flags().StringVar(&f.q.Cursor, "cursor", "", "continue from a previous page")
	cmd.Flags().StringVar(&f.q.Order, "order", "desc", "desc (newest first) or asc")
	return cmd
}

func writeEvents(w io.Writer, events []agent.AuditEvent) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tKIND\tAGENT\tACTOR\tACTION\tRESOURCE\tRESULT\tCODE")
	for _, e := range events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Kind,
			e.AgentID, e.Actor, e.Action, e.Resource, e.Result, e.Code)
	}
	tw.Flush()
}

func auditExportCmd(g *globals) *cobra.Command {
	var (
		f      auditFilters
		format string
		out    string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Stream every matching event, oldest first, as json, ndjson or csv (no row cap)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := f.query()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if out != "" && out != "-" {
				file, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					return err
				}
				defer file.Close()
				w = file
			}
			return g.withSession(cmd, func(ctx context.Context, k session) error {
				return k.Audit().Export(ctx, q, format, w)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&format, "format", "ndjson", "json, ndjson, csv, or replay (one tenant's agents and decisions, for kavach policy replay --ledger)")
	cmd.Flags().StringVarP(&out, "file", "f", "", "write to this file instead of standard output")
	return cmd
}

func auditVerifyCmd(g *globals) *cobra.Command {
	var (
		opts   api.AuditVerifyOptions
		anchor string
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Walk the hash chains and name the first broken or missing event (exit 1 if any)",
		Long: `Walk the hash chains and name the first broken or missing event (exit 1 if any).
--anchor holds each chain against the newest checkpoint a witness file (--audit-witness)
recorded for it, which shows events deleted from the end together with their checkpoints.
--incremental walks only what follows the newest checkpoint an earlier verification
confirmed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if anchor != "" {
				f, err := os.Open(anchor)
				if err != nil {
					return fmt.Errorf("--anchor: %w", err)
				}
				defer f.Close()
				opts.Anchor = f
			}
			return g.withSession(cmd, func(ctx context.Context, k session) error {
				r, err := verifyAudit(ctx, k.Audit(), opts)
				if err != nil {
					return err
				}
				if err := show(cmd, g, r, writeAuditReport); err != nil {
					return err
				}
				if !r.OK {
					return fmt.Errorf("the audit ledger does not verify")
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&opts.TenantID, "tenant", "", "only this tenant (default: every tenant)")
	cmd.Flags().StringVar(&anchor, "anchor", "", "a witness file of signed checkpoints each chain must still reach")
	cmd.Flags().BoolVar(&opts.Incremental, "incremental", false, "start after the newest checkpoint an earlier verification confirmed")
	return cmd
}

// verifyAudit verifies with options where the session supports them: a server reached
// with --server verifies only in full and holds no anchor.
func verifyAudit(ctx context.Context, a api.Audit, opts api.AuditVerifyOptions) (*api.AuditReport, error) {
	if v, ok := a.(api.AuditVerifier); ok {
		return v.VerifyWith(ctx, opts)
	}
	if opts.Anchor != nil || opts.Incremental {
		return nil, fmt.Errorf("--anchor and --incremental verify a database directly; they do not work with --server")
	}
	return a.Verify(ctx, opts.TenantID)
}

func writeAuditReport(cmd *cobra.Command, r *api.AuditReport) error {
	w := cmd.OutOrStdout()
	switch {
	case r.OK:
		fmt.Fprintf(w, "ok: %d events verified\n", r.Checked)
	case r.FirstBrokenID != "":
		fmt.Fprintf(w, "BROKEN in tenant %s at seq %d (event %s): %s\n", r.TenantID, r.FirstBrokenSeq, r.FirstBrokenID, r.Problem)
	default:
		fmt.Fprintf(w, "BROKEN in tenant %s at seq %d: %s\n", r.TenantID, r.FirstBrokenSeq, r.Problem)
	}
	for _, warning := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	return nil
}

func auditTailCmd(g *globals) *cobra.Command {
	var (
		f        auditFilters
		interval time.Duration
		count    int
	)
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print new events as they are recorded, as NDJSON, until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := f.query()
			if err != nil {
				return err
			}
			return g.withSession(cmd, func(ctx context.Context, k session) error {
				return tail(ctx, k.Audit(), q, interval, count, cmd.OutOrStdout())
			})
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often to look for new events")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many events (default: never)")
	return cmd
}

// tail follows the ledger from its current end: it pages forward from the newest event.
func tail(ctx context.Context, a api.Audit, q api.AuditQuery, interval time.Duration, count int, w io.Writer) error {
	newest := q
	newest.Limit, newest.Order = 1, "desc"
	page, err := a.Query(ctx, newest)
	if err != nil {
		return err
	}
	q.Order, q.Limit = "asc", 1000
	if len(page.Events) == 1 {
		q.AfterSeq = page.Events[0].Seq
	}
	enc := json.NewEncoder(w)
	seen := 0
	for {
		page, err := a.Query(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range page.Events {
			if err := enc.Encode(e); err != nil {
				return err
			}
			q.AfterSeq = e.Seq
			if seen++; count > 0 && seen >= count {
				return nil
			}
		}
		if len(page.Events) == q.Limit {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

func auditPruneCmd(g *globals) *cobra.Command {
	var (
		tenant string
		before string
	)
	cmd := &cobra.Command{
		Use:   "prune --before TIME",
		Short: "Delete events older than a time, keeping the chain verifiable (the pruning is itself audited)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := time.Parse(time.RFC3339, before)
			if err != nil {
				d, derr := time.ParseDuration(before)
				if derr != nil {
					return fmt.Errorf("--before: want an RFC 3339 time or a duration such as 2160h")
				}
				t = time.Now().Add(-d)
			}
			k, ctx, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer k.Close()
			first, err := k.PruneAudit(ctx, tenant, t)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "events before seq %d removed; the chain now starts there\n", first)
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant id (default: default)")
	cmd.Flags().StringVar(&before, "before", "", "delete events older than this RFC 3339 time or duration ago (required)")
	cmd.MarkFlagRequired("before")
	return cmd
}

func auditKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new audit signing key (for KAVACH_AUDIT_SIGNING_KEY) and its public key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seed := make([]byte, ed25519.SeedSize)
			if _, err := rand.Read(seed); err != nil {
				return err
			}
			s, err := audit.NewSigner(seed, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signing key: %s\npublic key:  %s\n", base64.StdEncoding.EncodeToString(seed), s.PublicKey())
			return nil
		},
	}
}

func auditPublicKeyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "public-key",
		Short: "Print the public key of the configured audit signing key (to trust it after a rotation)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, _, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer k.Close()
			pub := k.AuditPublicKey()
			if pub == "" {
				return kavach.ErrNoSigningKey
			}
			fmt.Fprintln(cmd.OutOrStdout(), pub)
			return nil
		},
	}
}
