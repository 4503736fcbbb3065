// Package apitest is one end-to-end suite for api.Kavach. It runs against the embedded
// facade and against the HTTP client talking to the real server, so both answer every call
// the same way: the same results, the same error codes, fields and reasons.
package apitest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// Env gives the suite the API as one caller.
type Env interface {
	// As returns the API and a context in which its calls act as a. The actor's tenant
	// must exist.
	As(t *testing.T, a api.Actor) (api.Kavach, context.Context)
}

// NewEnv returns an Env over a fresh, empty database.
type NewEnv func(t *testing.T) Env

// Run runs the whole suite, each test over its own database.
func Run(t *testing.T, newEnv NewEnv) {
	tests := []struct {
		name string
		fn   func(*testing.T, Env)
	}{
		{"Tenants", testTenants},
		{"APIKeys", testAPIKeys},
		{"AgentLifecycle", testAgentLifecycle},
		{"ListAgents", testListAgents},
		{"OwnerIsolation", testOwnerIsolation},
		{"TenantIsolation", testTenantIsolation},
		{"AppCannotManage", testAppCannotManage},
		{"Authorize", testAuthorize},
		{"AuthorizeConstraints", testAuthorizeConstraints},
		{"ApprovalRoundTrip", testApprovals},
		{"Delegations", testDelegations},
		{"Capabilities", testCapabilities},
		{"Audit", testAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer fatalOnFailure(t)
			tc.fn(t, newEnv(t))
		})
	}
}

// Callers used throughout.
var (
	root  = api.Root
	admin = api.Actor{Role: api.RoleAdmin, TenantID: agent.DefaultTenant}
	app   = api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant}
	alice = api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "alice"}
	bob   = api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "bob"}
	carol = api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "carol"}
)

// failure carries an unexpected error from must to the test that called it.
type failure struct {
	err error
	at  string
}

// must returns v, or ends the running test (through Run) if err is set. It takes a call's
// results directly: must(k.Agents().Get(ctx, id)).
func must[T any](v T, err error) T {
	if err != nil {
		_, file, line, _ := runtime.Caller(1)
		panic(failure{err, fmt.Sprintf("%s:%d", filepath.Base(file), line)})
	}
	return v
}

// fatalOnFailure turns a must failure into t.Fatal; any other panic goes on.
func fatalOnFailure(t *testing.T) {
	if r := recover(); r != nil {
		f, ok := r.(failure)
		if !ok {
			panic(r)
		}
		t.Fatalf("%s: unexpected error: %v", f.at, f.err)
	}
}

// wantErr checks err's code and, when given, its field and reason.
func wantErr(t *testing.T, what string, err error, code api.ErrorCode, field, reason string) {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) {
		t.Errorf("%s: want a %s error, got %v", what, code, err)
		return
	}
	if ae.Code != code || (field != "" && ae.Field != field) || (reason != "" && ae.Reason != reason) {
		t.Errorf("%s: want %s field=%q reason=%q, got %s field=%q reason=%q (%s)",
			what, code, field, reason, ae.Code, ae.Field, ae.Reason, ae.Message)
	}
}

func wantDecision(t *testing.T, what string, d *api.Decision, err error, code api.DecisionCode) *api.Decision {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if d.Code != code || d.Allowed != (code == api.Allowed) {
		t.Fatalf("%s: want %s, got allowed=%v %s (%s)", what, code, d.Allowed, d.Code, d.Reason)
	}
	if d.AuditID == "" {
		t.Fatalf("%s: the decision has no audit id", what)
	}
	return d
}

func perms(resource string, actions ...string) []agent.Permission {
	return []agent.Permission{{Resource: resource, Actions: actions}}
}

// newAgent creates an agent as the caller, with the given permissions.
func newAgent(t *testing.T, k api.Kavach, ctx context.Context, owner string, ps []agent.Permission) *api.AgentWithToken {
	t.Helper()
	return must(k.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: owner, Name: "reviewer", Permissions: ps}))
}

func ptr[T any](v T) *T { return &v }
