// Package pgtest gives tests a private, empty PostgreSQL schema in a real database.
//
// The database comes from KAVACH_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/kavach_test?sslmode=disable) and is created if it does
// not exist. When no server answers, tests are skipped — unless KAVACH_REQUIRE_POSTGRES=1 or
// CI=true, where a missing Postgres fails the run.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the database used when KAVACH_TEST_POSTGRES is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/kavach_test?sslmode=disable"

var (
	once     sync.Once
	baseURL  string
	setupErr error
)

func required() bool {
	return os.Getenv("KAVACH_REQUIRE_POSTGRES") == "1" || os.Getenv("CI") == "true"
}

// URL returns a connection URL whose search_path is a fresh schema, dropped when the test
// ends. Objects created through it are invisible to every other test.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { baseURL, setupErr = ensureDatabase() })
	if setupErr != nil {
		if required() {
			t.Fatalf("PostgreSQL is required here but unavailable: %v", setupErr)
		}
		t.Skipf("PostgreSQL unavailable (set KAVACH_TEST_POSTGRES): %v", setupErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, baseURL); err == nil {
			c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	u, _ := url.Parse(baseURL)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// ensureDatabase connects to the test database, creating it through the server's
// "postgres" database if it does not exist yet.
func ensureDatabase() (string, error) {
	raw := os.Getenv("KAVACH_TEST_POSTGRES")
	if raw == "" {
		raw = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, raw)
	if err == nil {
		conn.Close(ctx)
		return raw, nil
	}
	cfg, perr := pgx.ParseConfig(raw)
	if perr != nil {
		return "", perr
	}
	name := cfg.Database
	cfg.Database = "postgres"
	admin, aerr := pgx.ConnectConfig(ctx, cfg)
	if aerr != nil {
		return "", err // the server itself is unreachable: report the first error
	}
	defer admin.Close(ctx)
	if _, cerr := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); cerr != nil {
		return "", fmt.Errorf("create database %s: %w (after: %v)", name, cerr, err)
	}
	return raw, nil
}
