// Package decisiontable reads the shared table of decision cases
// (tests/rego/testdata/decisions.json). The Go tests and the Rego tests both read it, so
// the two cannot drift apart.
package decisiontable

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/kavachos/kavach-go/agent"
)

// Case is one row: an agent, a request at a time, and the expected decision.
type Case struct {
	Name    string     `json:"name"`
	At      time.Time  `json:"at"`
	Subject *CaseAgent `json:"agent"`
	Req     struct {
		Action    string         `json:"action"`
		Resource  string         `json:"resource"`
		Arguments map[string]any `json:"arguments"`
		IP        string         `json:"ip"`
	} `json:"request"`
	Want struct {
		Code  string `json:"code"`
		Grant *int   `json:"grant"`
	} `json:"want"`
	// By is "token" to decide by the agent's token, "bad-token" to use an unknown one;
	// empty decides by agent id.
	By string `json:"by"`
	// PriorCalls are made (and must be allowed) before the decision under test.
	PriorCalls int `json:"prior_calls"`
	// Approval is "approve" or "deny": the first call opens a request, which is decided
	// before the call under test.
	Approval string `json:"approval"`
	// GoOnly marks cases the policy alone cannot decide (token resolution).
	GoOnly bool `json:"go_only"`
}

// CaseAgent is the agent of a case.
type CaseAgent struct {
	Status      agent.Status       `json:"status"`
	ExpiresAt   *time.Time         `json:"expires_at"`
	Permissions []agent.Permission `json:"permissions"`
}

// Path returns the table's location in the repository.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "tests", "rego", "testdata", "decisions.json")
}

// CompiledPath returns the location of the compiled agents the Rego tests use.
func CompiledPath() string {
	return filepath.Join(filepath.Dir(Path()), "compiled.json")
}

// Load reads the table.
func Load() ([]Case, error) {
	b, err := os.ReadFile(Path())
	if err != nil {
		return nil, err
	}
	var doc struct {
		Cases []Case `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decision table: %w", err)
	}
	return doc.Cases, nil
}

// Agent returns the case's agent with id = the case name and permission ids p0, p1, …,
// as the Rego tests see it.
func (c Case) Agent() *agent.Agent {
	if c.Subject == nil {
		return nil
	}
	status := c.Subject.Status
	if status == "" {
		status = agent.StatusActive
	}
	perms := make([]agent.Permission, len(c.Subject.Permissions))
	for i, p := range c.Subject.Permissions {
		perms[i] = p.Clone()
		perms[i].ID = fmt.Sprintf("p%d", i)
	}
	return &agent.Agent{
		ID: c.Name, TenantID: agent.DefaultTenant, OwnerID: "owner", Name: c.Name,
		Type: agent.TypeAutonomous, Status: status, ExpiresAt: c.Subject.ExpiresAt,
		Permissions: perms, TokenPrefix: "kv_", CreatedAt: c.At, UpdatedAt: c.At,
	}
}
