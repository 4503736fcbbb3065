package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// Two audit signing keys, as before and after a rotation.
var (
	keyA = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	keyB = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
)

func publicKey(t *testing.T, seed string) string {
	t.Helper()
	b, _ := base64.StdEncoding.DecodeString(seed)
	s, err := audit.NewSigner(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

// kavachEnv runs the binary in dir with the audit settings cleared, then env applied.
func kavachEnv(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "KAVACH_DATABASE=", "KAVACH_CONFIG=", "KAVACH_AUDIT_SIGNING_KEY=",
		"KAVACH_AUDIT_SIGNING_KEY_FILE=", "KAVACH_AUDIT_TRUSTED_KEYS=", "KAVACH_AUDIT_WITNESS="), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// mustRun runs the binary and fails the test if it exits non-zero.
func mustRun(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	out, errOut, err := kavachEnv(t, dir, env, args...)
	if err != nil {
		t.Fatalf("kavach %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// rawExec runs SQL straight against a database, as someone with database access would.
// Placeholders are written $1, $2… for both backends.
func rawExec(t *testing.T, database, query string, args ...any) {
	t.Helper()
	if path, ok := strings.CutPrefix(database, "sqlite://"); ok {
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for i := len(args); i >= 1; i-- {
			query = strings.ReplaceAll(query, fmt.Sprintf("$%d", i), fmt.Sprintf("?%d", i))
		}
		if _, err := db.Exec(query, args...); err != nil {
			t.Fatal(err)
		}
		return
	}
	conn, err := pgx.Connect(context.Background(), database)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), query, args...); err != nil {
		t.Fatal(err)
	}
}

// truncate deletes a tenant's events after seq and their checkpoints, and rewinds the
// recorded head, leaving a shorter chain that is consistent in itself.
func truncate(t *testing.T, database, tenant string, seq int64, hash string) {
	t.Helper()
	rawExec(t, database, `DELETE FROM audit_events WHERE tenant_id = $1 AND seq > $2`, tenant, seq)
	rawExec(t, database, `DELETE FROM audit_checkpoints WHERE tenant_id = $1 AND seq > $2`, tenant, seq)
	rawExec(t, database, `UPDATE audit_heads SET seq = $1, hash = $2 WHERE tenant_id = $3`, seq, hash, tenant)
}

// chainOf lists the default tenant's events, oldest first.
func chainOf(t *testing.T, dir string, env []string, database string) []agent.AuditEvent {
	t.Helper()
	var page api.AuditPage
	out := mustRun(t, dir, env, "--database", database, "audit", "query", "--order", "asc", "-o", "json")
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatal(err)
	}
	return page.Events
}

// TestCLIVerifyAnchorNamesTailTruncation: the newest events deleted together with their
// checkpoint rows leave a chain that verifies on its own; the witness file, given as
// --anchor, names the truncation.
func TestCLIVerifyAnchorNamesTailTruncation(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			database := "sqlite://" + filepath.Join(dir, "kavach.db")
			if backend == "postgres" {
				database = pgtest.URL(t)
				mustRun(t, dir, nil, "--database", database, "migrate")
			}
			witness := filepath.Join(t.TempDir(), "witness.jsonl")
			env := []string{"KAVACH_AUDIT_SIGNING_KEY=" + keyA, "KAVACH_AUDIT_WITNESS=" + witness}
			for i := range 3 { // each process signs a checkpoint of its event when it closes
				mustRun(t, dir, env, "--database", database, "agent", "create", "--owner", "o",
					"--name", fmt.Sprint("a", i), "--permission", "x:*=read")
			}
			events := chainOf(t, dir, env, database)
			if len(events) != 3 {
				t.Fatalf("%d events, want 3", len(events))
			}
			if lines := strings.Count(readFile(t, witness), "\n"); lines != 3 {
				t.Fatalf("the witness holds %d checkpoints, want 3", lines)
			}
			if out := mustRun(t, dir, env, "--database", database, "audit", "verify", "--anchor", witness); !strings.HasPrefix(out, "ok: 3 events") {
				t.Fatalf("an intact ledger against its witness: %s", out)
			}

			truncate(t, database, "default", events[0].Seq, events[0].Hash)
			out := mustRun(t, dir, env, "--database", database, "audit", "verify")
			if !strings.HasPrefix(out, "ok: 1 events") {
				t.Fatalf("without the witness the shorter chain verifies: %s", out)
			}
			out, _, err := kavachEnv(t, dir, env, "--database", database, "audit", "verify", "--anchor", witness)
			if err == nil || !strings.Contains(out, "truncated") || !strings.Contains(out, fmt.Sprintf("at seq %d", events[1].Seq)) ||
				!strings.Contains(out, fmt.Sprint(events[2].Seq)) {
				t.Fatalf("the witness must name the truncation: %v\n%s", err, out)
			}

			// With every checkpoint gone, verify still passes but warns.
			rawExec(t, database, `DELETE FROM audit_checkpoints`)
			out = mustRun(t, dir, env, "--database", database, "audit", "verify")
			if !strings.Contains(out, "warning:") || !strings.Contains(out, "no signed checkpoint") {
				t.Fatalf("a chain without a checkpoint must warn: %s", out)
			}
		})
	}
}

// TestCLIVerifyAnchorNamesADeletedChain: a tenant's chain deleted whole, checkpoints and
// head included, is gone from the ledger but not from the witness.
func TestCLIVerifyAnchorNamesADeletedChain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	database := "sqlite://" + filepath.Join(dir, "kavach.db")
	witness := filepath.Join(t.TempDir(), "witness.jsonl")
	env := []string{"KAVACH_AUDIT_SIGNING_KEY=" + keyA, "KAVACH_AUDIT_WITNESS=" + witness}
	mustRun(t, dir, env, "tenant", "create", "acme")
	mustRun(t, dir, env, "agent", "create", "--tenant", "acme", "--owner", "o", "--name", "a", "--permission", "x:*=read")
	for _, table := range []string{"audit_events", "audit_checkpoints", "audit_heads"} {
		rawExec(t, database, `DELETE FROM `+table+` WHERE tenant_id = $1`, "acme")
	}
	if out := mustRun(t, dir, env, "audit", "verify"); !strings.HasPrefix(out, "ok:") {
		t.Fatalf("without the witness nothing shows: %s", out)
	}
	out, _, err := kavachEnv(t, dir, env, "audit", "verify", "--anchor", witness)
	if err == nil || !strings.Contains(out, "BROKEN in tenant acme at seq 1") || !strings.Contains(out, "truncated") {
		t.Fatalf("the witness names the deleted chain: %v %s", err, out)
	}
}

// TestCLIOnPostgresUsesTheConfiguredKey: the CLI signs and verifies with
// KAVACH_AUDIT_SIGNING_KEY, as the server does, and invents no key file.
func TestCLIOnPostgresUsesTheConfiguredKey(t *testing.T) {
	t.Parallel()
	database := pgtest.URL(t)
	dir := t.TempDir()
	// A server with key A writes a healthy, checkpointed ledger.
	k, err := kavach.Open(context.Background(), kavach.Config{Database: database, Audit: kavach.AuditConfig{SigningKey: keyA}})
	if err != nil {
		t.Fatal(err)
	}
	root := kavach.WithActor(context.Background(), api.Root)
	for i := range 3 {
		if _, err := k.Agents().Create(root, api.CreateAgentRequest{OwnerID: "o", Name: fmt.Sprint("a", i),
			Permissions: []agent.Permission{{Resource: "x:*", Actions: []string{"read"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	env := []string{"KAVACH_AUDIT_SIGNING_KEY=" + keyA}
	if out := mustRun(t, dir, env, "--database", database, "audit", "verify"); !strings.HasPrefix(out, "ok:") {
		t.Fatalf("a healthy ledger: %s", out)
	}
	mustRun(t, dir, env, "--database", database, "api-key", "create", "--role", "root", "--name", "ops")
	if out := mustRun(t, dir, env, "--database", database, "audit", "verify"); !strings.HasPrefix(out, "ok:") {
		t.Fatalf("after api-key create: %s", out)
	}
	mustRun(t, dir, env, "--database", database, "audit", "prune", "--before", "1ms")
	if out := mustRun(t, dir, env, "--database", database, "audit", "verify"); !strings.HasPrefix(out, "ok:") {
		t.Fatalf("after audit prune: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "kavach-audit.key")); !os.IsNotExist(err) {
		t.Fatalf("the CLI wrote a key file of its own: %v", err)
	}
	// The server, with key A, still verifies what the CLI signed.
	k, err = kavach.Open(context.Background(), kavach.Config{Database: database, Audit: kavach.AuditConfig{SigningKey: keyA}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := k.Audit().Verify(root, "")
	k.Close()
	if err != nil || !r.OK {
		t.Fatalf("the server's verify after the CLI signed: %+v %v", r, err)
	}

	// Key B replaces key A: the checkpoint that vouches for the pruned start is A's, so it
	// verifies only with A listed as trusted.
	envB := []string{"KAVACH_AUDIT_SIGNING_KEY=" + keyB}
	mustRun(t, dir, envB, "--database", database, "agent", "create", "--owner", "o", "--name", "b", "--permission", "x:*=read")
	out, _, err := kavachEnv(t, dir, envB, "--database", database, "audit", "verify")
	if err == nil || !strings.Contains(out, "BROKEN") {
		t.Fatalf("a checkpoint of the rotated-out key, not trusted: %v %s", err, out)
	}
	trustA := append(envB, "KAVACH_AUDIT_TRUSTED_KEYS="+publicKey(t, keyA))
	if out := mustRun(t, dir, trustA, "--database", database, "audit", "verify"); !strings.HasPrefix(out, "ok:") {
		t.Fatalf("with key A trusted (environment): %s", out)
	}
	if out := mustRun(t, dir, envB, "--database", database, "--audit-trusted-keys", publicKey(t, keyA), "audit", "verify"); !strings.HasPrefix(out, "ok:") {
		t.Fatalf("with key A trusted (flag): %s", out)
	}
	config := filepath.Join(dir, "kavach.yaml")
	writeFile(t, config, "auditSigningKey: "+keyB+"\nauditTrustedKeys: ["+publicKey(t, keyA)+"]\n")
	if out := mustRun(t, dir, []string{"KAVACH_CONFIG=" + config}, "--database", database, "audit", "verify"); !strings.HasPrefix(out, "ok:") {
		t.Fatalf("with the keys from the config file: %s", out)
	}
}

// TestCLIOnPostgresWithoutKeyRefusesToSign: with no signing key configured the CLI writes
// no checkpoint and no key file; pruning, which must sign, fails naming the setting; verify
// warns that the chain has no checkpoint.
func TestCLIOnPostgresWithoutKeyRefusesToSign(t *testing.T) {
	t.Parallel()
	database := pgtest.URL(t)
	dir := t.TempDir()
	mustRun(t, dir, nil, "--database", database, "migrate")
	for i := range 2 {
		mustRun(t, dir, nil, "--database", database, "agent", "create", "--owner", "o", "--name", fmt.Sprint("a", i), "--permission", "x:*=read")
	}
	_, errOut, err := kavachEnv(t, dir, nil, "--database", database, "audit", "prune", "--before", "1ms")
	if err == nil || !strings.Contains(errOut, "KAVACH_AUDIT_SIGNING_KEY") {
		t.Fatalf("pruning without a key must fail naming the setting: %v %s", err, errOut)
	}
	out := mustRun(t, dir, nil, "--database", database, "audit", "verify")
	if !strings.HasPrefix(out, "ok: 2 events") || !strings.Contains(out, "warning:") || !strings.Contains(out, "no signed checkpoint") {
		t.Fatalf("a chain without checkpoints verifies with a warning: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "kavach-audit.key")); !os.IsNotExist(err) {
		t.Fatalf("the CLI invented a key file: %v", err)
	}
	// A server would write checkpoints: it does not start without the key.
	_, errOut, err = kavachEnv(t, dir, nil, "--database", database, "serve", "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(errOut, "KAVACH_AUDIT_SIGNING_KEY") {
		t.Fatalf("serve without a key must refuse naming the setting: %v %s", err, errOut)
	}
}

// TestAuditSettingsPrecedence: every command reads the audit key as serve does: the YAML
// file, then the environment, then the flag.
func TestAuditSettingsPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := filepath.Join(dir, "kavach.yaml")
	writeFile(t, config, "auditSigningKey: "+keyA+"\n")
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"file", []string{"KAVACH_CONFIG=" + config}, nil, keyA},
		{"--config", nil, []string{"--config", config}, keyA},
		{"environment over file", []string{"KAVACH_CONFIG=" + config, "KAVACH_AUDIT_SIGNING_KEY=" + keyB}, nil, keyB},
		{"flag over environment", []string{"KAVACH_AUDIT_SIGNING_KEY=" + keyB}, []string{"--audit-signing-key", keyA}, keyA},
	}
	for _, c := range cases {
		out := mustRun(t, dir, c.env, append(c.args, "audit", "public-key")...)
		if strings.TrimSpace(out) != publicKey(t, c.want) {
			t.Errorf("%s: public key %s, want %s", c.name, out, publicKey(t, c.want))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "kavach-audit.key")); !os.IsNotExist(err) {
		t.Fatalf("with a configured key no key file is created: %v", err)
	}
	// Without any, SQLite keeps its key beside the database, shared by every process.
	first := mustRun(t, dir, nil, "audit", "public-key")
	if second := mustRun(t, dir, nil, "audit", "public-key"); first != second || first == "" {
		t.Fatalf("the key beside the database: %q then %q", first, second)
	}
	if _, err := os.Stat(filepath.Join(dir, "kavach-audit.key")); err != nil {
		t.Fatal(err)
	}
}

// TestServeReadsTheAuditSettings: serve takes the trusted keys and the witness from the
// environment and the YAML file like its other settings.
func TestServeReadsTheAuditSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kavach.yaml")
	writeFile(t, file, "database: postgres://db\nauditTrustedKeys: [k1, k2]\nauditWitness: /var/lib/kavach/witness.jsonl\n")
	for _, k := range []string{"KAVACH_CONFIG", "KAVACH_DATABASE", "KAVACH_AUDIT_SIGNING_KEY", "KAVACH_AUDIT_SIGNING_KEY_FILE", "KAVACH_AUDIT_TRUSTED_KEYS", "KAVACH_AUDIT_WITNESS"} {
		t.Setenv(k, "")
	}
	t.Setenv("KAVACH_AUDIT_TRUSTED_KEYS", "k3")
	c, err := parseServe(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.AuditTrustedKeys, ",") != "k3" || c.AuditWitness != "/var/lib/kavach/witness.jsonl" {
		t.Fatalf("%+v", c)
	}
	if _, err := c.auditConfig(); err == nil || !strings.Contains(err.Error(), "KAVACH_AUDIT_SIGNING_KEY") {
		t.Fatalf("serving Postgres without a key: %v", err)
	}
	c, err = parseServe(t, "--config", file, "--audit-signing-key", keyA, "--audit-witness", "w.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	ac, err := c.auditConfig()
	if err != nil || ac.SigningKey != keyA || ac.WitnessFile != "w.jsonl" || strings.Join(ac.TrustedKeys, ",") != "k3" {
		t.Fatalf("%+v %v", ac, err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
