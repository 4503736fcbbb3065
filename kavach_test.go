package kavach_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

// fixture is a Kavach over one backend, with a clock the test moves and a way to read every
// stored row as raw text.
type fixture struct {
	k       *kavach.Kavach
	db      string
	rawRows func(t *testing.T) string
	mu      sync.Mutex
	now     time.Time
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fixture) set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// eachBackend runs fn once over SQLite and once over Postgres.
func eachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "kavach.db")
		f := open(t, "sqlite://"+path)
		f.rawRows = func(t *testing.T) string {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			return dumpTables(t, db, func(table string) string { return "SELECT * FROM " + table },
				`SELECT name FROM sqlite_master WHERE type = 'table'`)
		}
		fn(t, f)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t)
		f := open(t, url)
		f.rawRows = func(t *testing.T) string {
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			rows, _ := conn.Query(context.Background(), `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
			tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, tbl := range tables {
				rows, _ := conn.Query(context.Background(), `SELECT row_to_json(x)::text FROM `+pgx.Identifier{tbl}.Sanitize()+` x`)
				lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					t.Fatal(err)
				}
				b.WriteString(strings.Join(lines, "\n"))
			}
			return b.String()
		}
		fn(t, f)
	})
}

func open(t *testing.T, db string) *fixture {
	f := &fixture{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	k, err := kavach.Open(context.Background(), kavach.Config{Database: db, Now: f.clock, Audit: kavach.AuditConfig{Sync: true, SigningKey: testAuditKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	f.k, f.db = k, db
	return f
}

func dumpTables(t *testing.T, db *sql.DB, selectAll func(string) string, listTables string) string {
	rows, err := db.Query(listTables)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := db.Query(selectAll(tbl))
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				switch x := v.(type) {
				case string:
					b.WriteString(x)
				case []byte:
					b.Write(x)
				}
				b.WriteByte('|')
			}
			b.WriteByte('\n')
		}
		rows.Close()
	}
	return b.String()
}

var (
	root  = kavach.WithActor(context.Background(), api.Root)
	alice = kavach.WithActor(context.Background(), api.Actor{Role: api.RoleUser, TenantID: "default", OwnerID: "alice"})
	bob   = kavach.WithActor(context.Background(), api.Actor{Role: api.RoleUser, TenantID: "default", OwnerID: "bob"})
)

func githubReader() []agent.Permission {
	return []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}}
}

func create(t *testing.T, f *fixture, ctx context.Context, req api.CreateAgentRequest) *api.AgentWithToken {
	t.Helper()
	if req.Name == "" {
		req.Name = "reviewer"
	}
	if req.Permissions == nil {
		req.Permissions = githubReader()
	}
	a, err := f.k.Agents().Create(ctx, req)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return a
}

func wantReason(t *testing.T, err error, reason api.DecisionCode) {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeUnauthenticated || ae.Reason != string(reason) {
		t.Fatalf("want unauthenticated/%s, got %#v", reason, err)
	}
}

func TestOnlyTheTokenHashIsStored(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{})
		raw := f.rawRows(t)
		secret := strings.TrimPrefix(a.Token, "kv_")
		if strings.Contains(raw, secret) || strings.Contains(raw, a.Token[11:30]) {
			t.Fatal("the token (or a large part of it) is stored in the database")
		}
		if !strings.Contains(raw, agent.HashToken(a.Token)) {
			t.Fatal("the token's SHA-256 is not stored")
		}
		if got, err := f.k.Agents().ValidateToken(alice, a.Token); err != nil || got.ID != a.ID {
			t.Fatalf("the token must validate: %v", err)
		}
		if a.TokenPrefix != a.Token[:11] {
			t.Fatalf("token prefix %q", a.TokenPrefix)
		}
	})
}

func TestTokenLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ag := f.k.Agents()
		a := create(t, f, alice, api.CreateAgentRequest{})

		rot, err := ag.Rotate(alice, a.ID, api.RotateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		wantReason(t, func() error { _, err := ag.ValidateToken(alice, a.Token); return err }(), api.TokenInvalid)
		if _, err := ag.ValidateToken(alice, rot.Token); err != nil {
			t.Fatalf("the new token must work: %v", err)
		}
		if rot.Agent.TokenPrefix != rot.Token[:11] {
			t.Fatal("rotation must update the token prefix")
		}

		// With a grace period the old token lives on until the period ends.
		graced, err := ag.Rotate(alice, a.ID, api.RotateRequest{GracePeriod: agent.Duration(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ag.ValidateToken(alice, rot.Token); err != nil {
			t.Fatalf("old token within grace period: %v", err)
		}
		f.advance(61 * time.Second)
		wantReason(t, func() error { _, err := ag.ValidateToken(alice, rot.Token); return err }(), api.TokenInvalid)
		if _, err := ag.ValidateToken(alice, graced.Token); err != nil {
			t.Fatal(err)
		}

		// Expiry.
		exp := f.clock().Add(time.Hour)
		e := create(t, f, alice, api.CreateAgentRequest{ExpiresAt: &exp})
		if _, err := ag.ValidateToken(alice, e.Token); err != nil {
			t.Fatal(err)
		}
		f.advance(time.Hour)
		wantReason(t, func() error { _, err := ag.ValidateToken(alice, e.Token); return err }(), api.AgentExpired)

		// Revocation.
		r := create(t, f, alice, api.CreateAgentRequest{})
		if _, err := ag.Revoke(alice, r.ID); err != nil {
			t.Fatal(err)
		}
		wantReason(t, func() error { _, err := ag.ValidateToken(alice, r.Token); return err }(), api.AgentRevoked)
		if _, err := ag.Rotate(alice, r.ID, api.RotateRequest{}); !api.IsConflict(err) {
			t.Fatalf("rotating a revoked agent: want conflict, got %v", err)
		}
		if _, err := ag.Update(alice, r.ID, api.UpdateAgentRequest{Name: ptr("x")}); !api.IsConflict(err) {
			t.Fatalf("updating a revoked agent: want conflict, got %v", err)
		}

		// Garbage and forged tokens.
		for _, tok := range []string{"", "kv_", "not-a-token", a.Token[:len(a.Token)-1] + "x", agent.MintToken()} {
			wantReason(t, func() error { _, err := ag.ValidateToken(alice, tok); return err }(), api.TokenInvalid)
		}
	})
}

func TestOwnerIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ag := f.k.Agents()
		a := create(t, f, alice, api.CreateAgentRequest{})
		create(t, f, bob, api.CreateAgentRequest{})

		if _, err := ag.Get(bob, a.ID); !api.IsNotFound(err) {
			t.Errorf("bob get: want not found, got %v", err)
		}
		if _, err := ag.Rotate(bob, a.ID, api.RotateRequest{}); !api.IsNotFound(err) {
			t.Errorf("bob rotate: want not found, got %v", err)
		}
		if _, err := ag.Revoke(bob, a.ID); !api.IsNotFound(err) {
			t.Errorf("bob revoke: want not found, got %v", err)
		}
		if _, err := ag.Update(bob, a.ID, api.UpdateAgentRequest{Name: ptr("pwned")}); !api.IsNotFound(err) {
			t.Errorf("bob update: want not found, got %v", err)
		}
		if _, err := ag.ValidateToken(bob, a.Token); err == nil {
			t.Error("bob must not resolve alice's token")
		}
		if _, err := ag.List(bob, api.ListAgentsRequest{OwnerID: "alice"}); !api.IsForbidden(err) {
			t.Errorf("bob listing alice: want forbidden, got %v", err)
		}
		if _, err := ag.Create(bob, api.CreateAgentRequest{OwnerID: "alice", Name: "x", Permissions: githubReader()}); !api.IsForbidden(err) {
			t.Errorf("bob creating for alice: want forbidden, got %v", err)
		}
		list, err := ag.List(bob, api.ListAgentsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range list.Agents {
			if x.OwnerID != "bob" {
				t.Errorf("bob's listing shows %s's agent %s", x.OwnerID, x.ID)
			}
		}
		if len(list.Agents) != 1 {
			t.Errorf("bob sees %d agents, want 1", len(list.Agents))
		}
		// Alice's agent is untouched.
		got, err := ag.Get(alice, a.ID)
		if err != nil || got.Status != agent.StatusActive || got.Name != "reviewer" {
			t.Fatalf("alice's agent changed: %+v %v", got, err)
		}
		if _, err := ag.ValidateToken(alice, a.Token); err != nil {
			t.Fatalf("alice's token stopped working: %v", err)
		}
	})
}

func TestTenantIsolationAndRoles(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ag := f.k.Agents()
		if _, err := f.k.Tenants().Create(root, api.CreateTenantRequest{ID: "acme"}); err != nil {
			t.Fatal(err)
		}
		acmeAdmin := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleAdmin, TenantID: "acme"})
		defAdmin := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleAdmin, TenantID: "default"})
		defApp := kavach.WithActor(context.Background(), api.Actor{Role: api.RoleApp, TenantID: "default"})

		a := create(t, f, defAdmin, api.CreateAgentRequest{OwnerID: "alice"})
		if a.TenantID != "default" {
			t.Fatalf("tenant %q", a.TenantID)
		}
		if _, err := ag.Get(acmeAdmin, a.ID); !api.IsNotFound(err) {
			t.Errorf("other tenant's admin: want not found, got %v", err)
		}
		if _, err := ag.Revoke(acmeAdmin, a.ID); !api.IsNotFound(err) {
			t.Errorf("other tenant's admin revoke: want not found, got %v", err)
		}
		if _, err := ag.List(acmeAdmin, api.ListAgentsRequest{TenantID: "default"}); !api.IsForbidden(err) {
			t.Errorf("listing another tenant: want forbidden, got %v", err)
		}
		if _, err := ag.Create(acmeAdmin, api.CreateAgentRequest{TenantID: "default", OwnerID: "x", Name: "x", Permissions: githubReader()}); !api.IsForbidden(err) {
			t.Errorf("creating in another tenant: want forbidden, got %v", err)
		}
		// An app reads but does not manage.
		if _, err := ag.Get(defApp, a.ID); err != nil {
			t.Errorf("app get: %v", err)
		}
		if _, err := ag.Create(defApp, api.CreateAgentRequest{OwnerID: "x", Name: "x", Permissions: githubReader()}); !api.IsForbidden(err) {
			t.Errorf("app create: want forbidden, got %v", err)
		}
		if _, err := ag.Revoke(defApp, a.ID); !api.IsForbidden(err) {
			t.Errorf("app revoke: want forbidden, got %v", err)
		}
		// Only root creates tenants; admins see only their own.
		if _, err := f.k.Tenants().Create(defAdmin, api.CreateTenantRequest{ID: "evil"}); !api.IsForbidden(err) {
			t.Errorf("admin creating a tenant: want forbidden, got %v", err)
		}
		if ts, err := f.k.Tenants().List(acmeAdmin); err != nil || len(ts) != 1 || ts[0].ID != "acme" {
			t.Errorf("admin tenant list: %+v %v", ts, err)
		}
		if _, err := f.k.Tenants().Create(root, api.CreateTenantRequest{ID: "acme"}); !api.IsConflict(err) {
			t.Errorf("duplicate tenant: want conflict, got %v", err)
		}
		if _, err := f.k.Tenants().Create(root, api.CreateTenantRequest{ID: "Bad Tenant!"}); !api.IsInvalidInput(err) {
			t.Errorf("bad tenant id: want invalid input, got %v", err)
		}
		// No actor at all fails closed.
		if _, err := ag.Get(context.Background(), a.ID); !api.IsUnauthenticated(err) {
			t.Errorf("no actor: want unauthenticated, got %v", err)
		}
		// Root works across tenants.
		if _, err := ag.Create(root, api.CreateAgentRequest{TenantID: "acme", OwnerID: "o", Name: "n", Permissions: githubReader()}); err != nil {
			t.Errorf("root create in acme: %v", err)
		}
		if _, err := ag.Create(root, api.CreateAgentRequest{TenantID: "ghost", OwnerID: "o", Name: "n", Permissions: githubReader()}); !api.IsInvalidInput(err) {
			t.Errorf("unknown tenant: want invalid input, got %v", err)
		}
	})
}

func TestBadInputNamesTheFieldAndWritesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		past := f.clock().Add(-time.Minute)
		base := func() api.CreateAgentRequest {
			return api.CreateAgentRequest{OwnerID: "alice", Name: "ok", Permissions: githubReader()}
		}
		cases := []struct {
			field string
			edit  func(r *api.CreateAgentRequest)
		}{
			{"permissions[0].resource", func(r *api.CreateAgentRequest) { r.Permissions[0].Resource = "mcp:git*" }},
			{"permissions[0].actions", func(r *api.CreateAgentRequest) { r.Permissions[0].Actions = []string{} }},
			{"type", func(r *api.CreateAgentRequest) { r.Type = "robot" }},
			{"permissions[0].constraints.ipAllowlist[0]", func(r *api.CreateAgentRequest) {
				r.Permissions[0].Constraints = &agent.Constraints{IPAllowlist: []string{"300.1.1.1/8"}}
			}},
			{"permissions[0].constraints.timeWindows[0].timezone", func(r *api.CreateAgentRequest) {
				r.Permissions[0].Constraints = &agent.Constraints{TimeWindows: []agent.TimeWindow{{Start: "09:00", End: "17:00", Timezone: "Nowhere/Special"}}}
			}},
			{"name", func(r *api.CreateAgentRequest) { r.Name = strings.Repeat("n", 10<<20) }},
			{"expiresAt", func(r *api.CreateAgentRequest) { r.ExpiresAt = &past }},
			{"ownerId", func(r *api.CreateAgentRequest) { r.OwnerID = "" }},
			{"permissions[0].id", func(r *api.CreateAgentRequest) { r.Permissions[0].ID = "perm_mine" }},
		}
		for _, c := range cases {
			req := base()
			c.edit(&req)
			_, err := f.k.Agents().Create(root, req)
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != api.CodeInvalidInput || ae.Field != c.field {
				t.Errorf("%s: want invalid input naming the field, got %#v", c.field, err)
			}
		}
		list, err := f.k.Agents().List(root, api.ListAgentsRequest{})
		if err != nil || len(list.Agents) != 0 {
			t.Fatalf("rejected input wrote %d agents (%v)", len(list.Agents), err)
		}
		if _, err := f.k.Agents().List(root, api.ListAgentsRequest{Cursor: "!!"}); !api.IsInvalidInput(err) {
			t.Errorf("bad cursor: want invalid input, got %v", err)
		}
	})
}

func TestUpdateKeepsPermissionIDs(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{
			{Resource: "mcp:github:*", Actions: []string{"read", "write"}},
			{Resource: "mcp:slack:*", Actions: []string{"post"}},
		}})
		keep := a.Permissions[0].ID
		next := []agent.Permission{
			{Resource: "mcp:github:*", Actions: []string{"write", "read"}, Constraints: &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}},
			{Resource: "mcp:jira:*", Actions: []string{"read"}},
		}
		f.advance(time.Second)
		got, err := f.k.Agents().Update(alice, a.ID, api.UpdateAgentRequest{Permissions: &next, Name: ptr("renamed")})
		if err != nil {
			t.Fatal(err)
		}
		if got.Permissions[0].ID != keep {
			t.Errorf("unchanged grant lost its id: %s -> %s", keep, got.Permissions[0].ID)
		}
		if got.Permissions[1].ID == a.Permissions[1].ID || got.Permissions[1].ID == "" {
			t.Errorf("a new grant must get a new id")
		}
		if got.Name != "renamed" || !got.UpdatedAt.After(a.UpdatedAt) {
			t.Errorf("update not applied: %+v", got)
		}
		bogus := []agent.Permission{{ID: "perm_invented", Resource: "*", Actions: []string{"*"}}}
		if _, err := f.k.Agents().Update(alice, a.ID, api.UpdateAgentRequest{Permissions: &bogus}); !api.IsInvalidInput(err) {
			t.Errorf("invented permission id: want invalid input, got %v", err)
		}
		bad := []agent.Permission{{Resource: "", Actions: []string{"read"}}}
		if _, err := f.k.Agents().Update(alice, a.ID, api.UpdateAgentRequest{Permissions: &bad}); !api.IsInvalidInput(err) {
			t.Errorf("bad permission: want invalid input, got %v", err)
		}
		reread, _ := f.k.Agents().Get(alice, a.ID)
		if len(reread.Permissions) != 2 || reread.Permissions[1].Resource != "mcp:jira:*" {
			t.Errorf("a rejected update changed the agent: %+v", reread.Permissions)
		}
	})
}

func TestListPagesThroughEverything(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		want := map[string]bool{}
		for range 5 {
			want[create(t, f, alice, api.CreateAgentRequest{}).ID] = true
		}
		seen := map[string]bool{}
		req := api.ListAgentsRequest{Limit: 2}
		for {
			page, err := f.k.Agents().List(alice, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page.Agents {
				if seen[a.ID] {
					t.Fatalf("%s listed twice", a.ID)
				}
				seen[a.ID] = true
			}
			if page.NextCursor == "" {
				break
			}
			req.Cursor = page.NextCursor
		}
		if len(seen) != len(want) {
			t.Fatalf("listed %d of %d agents", len(seen), len(want))
		}
	})
}

func ptr[T any](v T) *T { return &v }

// reopen opens a second Kavach on the fixture's database, as a restarted process would.
func reopen(t *testing.T, f *fixture) *kavach.Kavach {
	t.Helper()
	k, err := kavach.Open(context.Background(), kavach.Config{Database: f.db, Now: f.clock, Audit: kavach.AuditConfig{Sync: true, SigningKey: testAuditKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// auditEvents returns an agent's recorded events ("" for all of the default tenant),
// oldest first. The fixture's ledger is synchronous, so every decision is already there.
func auditEvents(t *testing.T, f *fixture, agentID string) ([]*store.AuditEvent, error) {
	t.Helper()
	return store.CollectAudit(context.Background(), f.k.Store(), store.AuditQuery{TenantID: "default", AgentID: agentID})
}

// testAuditKey signs audit checkpoints in tests, so that no key file is written into the
// source tree.
const testAuditKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
