// Command verifyhttp measures audit verification over HTTP on a large ledger: it appends N
// decision events to one tenant's chain (in batches, straight into the store), signs the
// head, serves the API on a loopback port with the default timeouts, and times
// GET /v1/audit/verify answered as one JSON report, as streamed NDJSON progress, and
// incrementally (from=checkpoint) after a few more events.
//
//	go run ./tests/bench/verifyhttp -n 1570000                      # SQLite in a temporary directory
//	go run ./tests/bench/verifyhttp -n 1570000 -database postgres://… -write-timeout 5s
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/service"
	"github.com/kavachos/kavach-go/store"
)

// signingKey is a fixed benchmark key, so that no key file is written.
const signingKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func main() {
	n := flag.Int("n", 1_570_000, "events in the ledger")
	database := flag.String("database", "", "database URL (default: a new SQLite file in a temporary directory)")
	writeTimeout := flag.Duration("write-timeout", service.DefaultWriteTimeout, "the server's write timeout")
	flag.Parse()
	if err := run(*n, *database, *writeTimeout); err != nil {
		fmt.Fprintln(os.Stderr, "verifyhttp:", err)
		os.Exit(1)
	}
}

func run(n int, database string, writeTimeout time.Duration) error {
	ctx := context.Background()
	if database == "" {
		dir, err := os.MkdirTemp("", "verifyhttp")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		database = "sqlite://" + filepath.Join(dir, "kavach.db")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	k, err := kavach.Open(ctx, kavach.Config{Database: database, Logger: log, Audit: kavach.AuditConfig{SigningKey: signingKey}})
	if err != nil {
		return err
	}
	defer k.Close()
	key, _, err := k.BootstrapAPIKey(ctx, "")
	if err != nil {
		return err
	}
	start := time.Now()
	if err := fill(ctx, k, n); err != nil {
		return err
	}
	fmt.Printf("appended %d events in %v\n", n, time.Since(start).Round(time.Millisecond))

	srv, err := service.New(k, service.Config{Logger: log, WriteTimeout: writeTimeout})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.Serve(sctx, ln)
	base := "http://" + ln.Addr().String() + "/v1/audit/verify"

	fmt.Printf("write timeout %v\n", writeTimeout)
	if err := timed("plain JSON", func() error { return plain(base, key) }); err != nil {
		return err
	}
	if err := timed("streamed NDJSON", func() error { return streamed(base+"?stream=true", key) }); err != nil {
		return err
	}
	if err := fill(ctx, k, 1000); err != nil {
		return err
	}
	return timed("incremental (1000 new events)", func() error { return plain(base+"?from=checkpoint", key) })
}

// fill appends n events in batches of 5,000 and signs the chain's head.
func fill(ctx context.Context, k *kavach.Kavach, n int) error {
	batch := make([]*store.AuditEvent, 0, 5000)
	now := time.Now()
	for i := range n {
		batch = append(batch, &store.AuditEvent{ID: audit.NewID(), Time: now, TenantID: "default", Kind: audit.KindDecision,
			AgentID: fmt.Sprintf("agt_%d", i%1000), OwnerID: "user_1", Actor: "app:default", Action: "read",
			Resource: "mcp:github:repos", Arguments: map[string]any{"repo": "kavach", "i": i},
			Result: audit.ResultAllowed, Code: "ALLOWED", DurationNS: 12345, IP: "10.0.0.1", UserAgent: "bench"})
		if len(batch) == cap(batch) || i == n-1 {
			if err := k.Store().AppendAudit(ctx, batch...); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return k.Checkpoint(ctx)
}

func timed(name string, fn func() error) error {
	start := time.Now()
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Printf("%-32s %v\n", name, time.Since(start).Round(time.Millisecond))
	return nil
}

func get(url, key string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err == nil && resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return resp, err
}

func plain(url, key string) error {
	resp, err := get(url, key)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r api.AuditReport
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("not ok: %+v", r)
	}
	fmt.Printf("  ok, %d events checked\n", r.Checked)
	return nil
}

func streamed(url, key string) error {
	resp, err := get(url, key)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	lines, first := 0, time.Duration(0)
	start := time.Now()
	sc := bufio.NewScanner(resp.Body)
	var last api.AuditVerifyLine
	for sc.Scan() {
		if lines++; lines == 1 {
			first = time.Since(start)
		}
		last = api.AuditVerifyLine{}
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if last.Report == nil || !last.Report.OK {
		return errors.New("the stream did not end with a good report")
	}
	fmt.Printf("  ok, %d events checked, %d lines, first after %v\n", last.Report.Checked, lines, first.Round(time.Millisecond))
	return nil
}
