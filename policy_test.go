package kavach_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/lifecycle"
)

func exampleBundle() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "bundles", "example")
}

func openWithPolicy(t *testing.T, pc kavach.PolicyConfig) (*kavach.Kavach, *fixture) {
	t.Helper()
	// 2026-03-06 is a Friday; 10:00 in Berlin.
	f := &fixture{now: time.Date(2026, 3, 6, 9, 0, 0, 0, time.UTC)}
	k, err := kavach.Open(context.Background(), kavach.Config{
		Database: "sqlite://" + filepath.Join(t.TempDir(), "k.db"), Now: f.clock, Policy: pc,
		Audit: kavach.AuditConfig{Sync: true, SigningKey: testAuditKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	f.k = k
	return k, f
}

// A custom deny rule overrides an allow; its code and reason reach the caller and the
// audit event, which is stamped with the revision that decided.
func TestCustomDenyOverridesAllowAndIsAudited(t *testing.T) {
	k, f := openWithPolicy(t, kavach.PolicyConfig{Dir: exampleBundle()})
	a := create(t, f, alice, api.CreateAgentRequest{Permissions: []agent.Permission{{Resource: "*", Actions: []string{"*"}}}})
	st, err := k.PolicyStatus(alice)
	if err != nil || !strings.HasPrefix(st.Revision, "sha256-") || !strings.Contains(st.Source, "example") {
		t.Fatalf("policy status: %+v %v", st, err)
	}

	d := authorize(t, f, alice, a.ID, api.AuthorizeRequest{Action: "push", Resource: "mcp:prod:repo"})
	if d.Allowed || d.Code != api.PolicyDenied || d.Reason != "no writes to production on Fridays" {
		t.Fatalf("Friday push to prod: %+v", d)
	}
	d2 := authorize(t, f, alice, a.ID, api.AuthorizeRequest{Action: "call", Resource: "mcp:web:fetch",
		Arguments: map[string]any{"url": "fetch http://10.0.0.1/admin now"}})
	if d2.Code != api.ArgumentNotAllowed || !strings.Contains(d2.Reason, "10.0.0.1") {
		t.Fatalf("a URL outside the allowlist: %+v", d2)
	}
	if d := authorize(t, f, alice, a.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:prod:repo"}); !d.Allowed {
		t.Fatalf("a read on Friday: %+v", d)
	}
	gated := authorize(t, f, alice, a.ID, api.AuthorizeRequest{Action: "transfer", Resource: "bank:acct", Arguments: map[string]any{"amount": 5000}})
	if gated.Code != api.ApprovalRequired || gated.ApprovalID == "" {
		t.Fatalf("a large transfer needs approval from a custom rule: %+v", gated)
	}
	if _, err := k.Approvals().Approve(alice, gated.ApprovalID, api.ApproveRequest{}); err != nil {
		t.Fatalf("the agent's owner approves a custom gate: %v", err)
	}
	if d := authorize(t, f, alice, a.ID, api.AuthorizeRequest{Action: "transfer", Resource: "bank:acct", Arguments: map[string]any{"amount": 5000}}); !d.Allowed {
		t.Fatalf("after approval: %+v", d)
	}

	events, _ := auditEvents(t, f, a.ID)
	found := false
	for _, e := range events {
		if e.ID == d.AuditID {
			found = e.Code == "POLICY_DENIED" && e.Reason == d.Reason && e.Revision == st.Revision
		}
		if e.Kind == "decision" && e.Revision != st.Revision {
			t.Fatalf("event %s has revision %q, want %q", e.ID, e.Revision, st.Revision)
		}
	}
	if !found {
		t.Fatal("the custom denial is not audited with its code, reason and revision")
	}
}

// A bundle that cannot be loaded keeps the service from claiming readiness: serving
// without the operator's rules would allow what they deny.
func TestUnloadableBundleIsNotReady(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	k, _ := openWithPolicy(t, kavach.PolicyConfig{Bundle: srv.URL, PollInterval: time.Hour})
	err := k.Ready(context.Background())
	var se *lifecycle.StateError
	if !errors.As(err, &se) || se.Component != "policy.bundle" || se.Status.State != lifecycle.NotReady {
		t.Fatalf("ready with an unloadable bundle: %v", err)
	}
	if st, _ := k.PolicyStatus(root); st.BundleLoaded || st.LastError == "" {
		t.Fatalf("status: %+v", st)
	}
}

// TestNoDecisionWithoutTheConfiguredBundle: until a revision of the configured bundle is
// active, every decision is denied with POLICY_NOT_LOADED — never decided by the embedded
// policy alone — and a file bundle that arrives later is picked up.
func TestNoDecisionWithoutTheConfiguredBundle(t *testing.T) {
	wide := api.CreateAgentRequest{Permissions: []agent.Permission{{Resource: "*", Actions: []string{"*"}}}}
	read := api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}
	push := api.AuthorizeRequest{Action: "push", Resource: "mcp:prod:repo"} // the example bundle denies it on Fridays
	refusedEverything := func(t *testing.T, f *fixture, id string) {
		t.Helper()
		for _, req := range []api.AuthorizeRequest{read, push, {Action: "read", Resource: "mcp:github:repos", DryRun: true}} {
			if d := authorize(t, f, alice, id, req); d.Allowed || d.Code != api.PolicyNotLoaded || d.AuditID == "" {
				t.Fatalf("%s %s without the configured bundle: %+v", req.Action, req.Resource, d)
			}
		}
	}
	t.Run("http source failing", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusInternalServerError)
		}))
		defer srv.Close()
		_, f := openWithPolicy(t, kavach.PolicyConfig{Bundle: srv.URL, PollInterval: time.Hour})
		refusedEverything(t, f, create(t, f, alice, wide).ID)
	})
	t.Run("unsigned bundle with a verification key", func(t *testing.T) {
		_, f := openWithPolicy(t, kavach.PolicyConfig{Bundle: exampleBundle(), VerificationKey: "hmac-secret", Alg: "HS256", PollInterval: time.Hour})
		refusedEverything(t, f, create(t, f, alice, wide).ID)
	})
	t.Run("bundle failing its tests", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bundle")
		if err := os.CopyFS(path, os.DirFS(exampleBundle())); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(path, "kavach", "custom", "rules_test.rego"))
		os.MkdirAll(filepath.Join(path, "kavach", "custom_test"), 0o755)
		failing := "package kavach.custom_test\n\ntest_always_fails if { false }\n"
		if err := os.WriteFile(filepath.Join(path, "kavach", "custom_test", "fail_test.rego"), []byte(failing), 0o644); err != nil {
			t.Fatal(err)
		}
		manifest := `{"revision":"r2","roots":["kavach/custom","kavach/custom_test"]}`
		if err := os.WriteFile(filepath.Join(path, ".manifest"), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		k, f := openWithPolicy(t, kavach.PolicyConfig{Bundle: path, PollInterval: time.Hour})
		refusedEverything(t, f, create(t, f, alice, wide).ID)
		if st, _ := k.PolicyStatus(alice); !strings.Contains(st.LastError, "test") {
			t.Fatalf("the refusal should name the failing test: %+v", st)
		}
	})
	t.Run("file bundle arriving later", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bundle")
		k, f := openWithPolicy(t, kavach.PolicyConfig{Bundle: path, PollInterval: 20 * time.Millisecond})
		a := create(t, f, alice, wide)
		refusedEverything(t, f, a.ID)
		// The bundle arrives whole: built beside, then renamed into place.
		built := path + ".tmp"
		if err := os.CopyFS(built, os.DirFS(exampleBundle())); err != nil {
			t.Fatal(err)
		}
		// Without its tests: roots of kavach/custom alone do not permit package kavach.custom_test.
		for _, test := range []string{"rules_test.rego", "decision_test.rego"} {
			os.Remove(filepath.Join(built, "kavach", "custom", test))
		}
		if err := os.WriteFile(filepath.Join(built, ".manifest"), []byte(`{"revision":"r1","roots":["kavach/custom"]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(built, path); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); !authorize(t, f, alice, a.ID, read).Allowed; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				st, _ := k.PolicyStatus(alice)
				t.Fatalf("the bundle that arrived was never activated: %+v", st)
			}
		}
		if d := authorize(t, f, alice, a.ID, push); d.Code != api.PolicyDenied {
			t.Fatalf("the team's rule after the bundle arrived: %+v", d)
		}
		if err := k.Ready(context.Background()); err != nil {
			t.Fatalf("not ready once the bundle is active: %v", err)
		}
	})
}

func TestPolicyDirOutsideCustomIsRefused(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "kavach", "authz"), 0o755)
	os.WriteFile(filepath.Join(dir, "kavach", "authz", "x.rego"), []byte("package kavach.authz\nimport rego.v1\ndecision := {\"code\": \"ALLOWED\"}\n"), 0o644)
	_, err := kavach.Open(context.Background(), kavach.Config{Database: "sqlite://" + filepath.Join(t.TempDir(), "k.db"),
		Policy: kavach.PolicyConfig{Dir: dir}, Audit: kavach.AuditConfig{SigningKey: testAuditKey}})
	if err == nil || !strings.Contains(err.Error(), "outside kavach.custom") {
		t.Fatalf("a policy directory overriding the decision: %v", err)
	}
}
