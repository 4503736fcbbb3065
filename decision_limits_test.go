package kavach_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// sendJSON sends one JSON request with an API key and decodes the answer into out.
func sendJSON(t *testing.T, method, url, key string, body any, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Errorf("%s %s: %d %.300s", method, url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

func pushWithPattern(re string) []map[string]any {
	return []map[string]any{{"resource": "mcp:github:*", "actions": []string{"push"},
		"constraints": map[string]any{"argumentPatterns": map[string]string{"branch": re}}}}
}

// A user key cannot store a pattern whose matching cost is unbounded, on any path that
// stores permissions: agent create, agent update, delegation create. The answer is a 400
// problem naming the field and saying why.
func TestHostilePatternIsRefusedOnEveryWritePath(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, "sqlite://"+filepath.Join(t.TempDir(), "kavach.db"), service.Config{})
	key := s.Key(t, api.Actor{Role: api.RoleUser, TenantID: "default", OwnerID: "alice"})
	const hostile = `(?:[a-z]{1,1000})+`
	const field = "permissions[0].constraints.argumentPatterns.branch"

	var parent, child api.AgentWithToken
	for _, a := range []*api.AgentWithToken{&parent, &child} {
		if code := sendJSON(t, "POST", s.URL+"/v1/agents", key, map[string]any{"name": "n", "ownerId": "alice",
			"permissions": pushWithPattern(`dev-.*`)}, a); code != http.StatusCreated {
			t.Fatalf("create: %d", code)
		}
	}
	writes := []struct {
		name, method, path string
		body               map[string]any
	}{
		{"create agent", "POST", "/v1/agents", map[string]any{"name": "n", "ownerId": "alice", "permissions": pushWithPattern(hostile)}},
		{"update agent", "PATCH", "/v1/agents/" + parent.ID, map[string]any{"permissions": pushWithPattern(hostile)}},
		{"create delegation", "POST", "/v1/delegations", map[string]any{"fromAgentId": parent.ID, "toAgentId": child.ID, "permissions": pushWithPattern(hostile)}},
	}
	for _, w := range writes {
		var p api.Problem
		code := sendJSON(t, w.method, s.URL+w.path, key, w.body, &p)
		if code != http.StatusBadRequest || p.Field != field || !strings.Contains(p.Detail, "repetition count") {
			t.Errorf("%s: %d field %q detail %q; want 400 naming %s and why", w.name, code, p.Field, p.Detail, field)
		}
	}
}

// A pattern just inside the limits is accepted, and a 64 KB argument against it is answered
// quickly as ARGUMENT_NOT_ALLOWED: values longer than the matched maximum are never run
// through a pattern.
func TestLongArgumentIsNotMatched(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, "sqlite://"+filepath.Join(t.TempDir(), "kavach.db"), service.Config{})
	key := s.Key(t, api.Actor{Role: api.RoleUser, TenantID: "default", OwnerID: "alice"})
	var a api.AgentWithToken
	if code := sendJSON(t, "POST", s.URL+"/v1/agents", key, map[string]any{"name": "n", "ownerId": "alice",
		"permissions": pushWithPattern(`(?:[a-z]{1,32})+`)}, &a); code != http.StatusCreated {
		t.Fatalf("a pattern just inside the limits: %d", code)
	}
	authorize := func(value string) (api.Decision, time.Duration) {
		var d api.Decision
		start := time.Now()
		code := sendJSON(t, "POST", s.URL+"/v1/authorize", key, map[string]any{"agentId": a.ID,
			"action": "push", "resource": "mcp:github:repos", "arguments": map[string]any{"branch": value}}, &d)
		if code != http.StatusOK {
			t.Fatalf("authorize: %d", code)
		}
		return d, time.Since(start)
	}
	if d, _ := authorize(strings.Repeat("a", 4096)); !d.Allowed {
		t.Errorf("a value of the matched maximum: %s %s", d.Code, d.Reason)
	}
	d, took := authorize(strings.Repeat("a", 65000))
	if d.Allowed || d.Code != api.ArgumentNotAllowed {
		t.Errorf("a 64 KB value: %s %s, want ARGUMENT_NOT_ALLOWED", d.Code, d.Reason)
	}
	if took > time.Second {
		t.Errorf("a 64 KB value took %s, more than the decision deadline", took)
	}
}
