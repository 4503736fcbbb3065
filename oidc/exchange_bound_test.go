package oidc_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/oidc"
)

// TestTokenExchangeBoundsItsAgents: an exchange without actor_token makes an agent that
// lives until its token expires. A holder of one valid token may not make them without
// end: once MaxExchangeAgents are live for a subject, the next is refused, naming
// actor_token; an exchange that names its actor still works, and revoking one of the live
// agents makes room again.
func TestTokenExchangeBoundsItsAgents(t *testing.T) {
	t.Parallel()
	w := newXWorld(t, testserver.Backends[0], func(c *oidc.Config) { c.MaxExchangeAgents = 2 })
	_, kv := w.agent(t, "alice", agent.Permission{Resource: "mcp:files:*", Actions: []string{"call"}})
	form := url.Values{"subject_token": {kv}, "subject_token_type": {typeAgent}, "resource": {w.resource}}
	var made []string
	for range 2 {
		made = append(made, claims(t, w.mustExchange(t, form))["agent_id"].(string))
	}
	status, out := w.exchange(t, form)
	if status != http.StatusBadRequest || out["error"] != "invalid_request" || !strings.Contains(out["error_description"].(string), "actor_token") {
		t.Fatalf("a third agent: %d %v, want invalid_request naming actor_token", status, out)
	}
	_, actor := w.agent(t, "alice")
	named := url.Values{"subject_token": {kv}, "subject_token_type": {typeAgent}, "resource": {w.resource},
		"actor_token": {actor}, "actor_token_type": {typeAgent}}
	w.mustExchange(t, named)
	if _, err := w.Kavach.Agents().Revoke(w.root, made[0]); err != nil {
		t.Fatal(err)
	}
	w.mustExchange(t, form)
}
