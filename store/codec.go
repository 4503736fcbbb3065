package store

import (
	"encoding/json"
	"fmt"

	"github.com/kavachos/kavach-go/agent"
)

// AgentDocs is the JSON form in which both backends keep an agent's permissions and
// metadata.
type AgentDocs struct {
	Permissions string
	Metadata    string
}

// EncodeAgentDocs marshals an agent's permissions and metadata.
func EncodeAgentDocs(a *agent.Agent) (AgentDocs, error) {
	perms := a.Permissions
	if perms == nil {
		perms = []agent.Permission{}
	}
	p, err := json.Marshal(perms)
	if err != nil {
		return AgentDocs{}, fmt.Errorf("encode permissions: %w", err)
	}
	meta := a.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	m, err := json.Marshal(meta)
	if err != nil {
		return AgentDocs{}, fmt.Errorf("encode metadata: %w", err)
	}
	return AgentDocs{Permissions: string(p), Metadata: string(m)}, nil
}

// DecodeAgentDocs fills an agent's permissions and metadata from their JSON form.
func DecodeAgentDocs(a *agent.Agent, d AgentDocs) error {
	if err := json.Unmarshal([]byte(d.Permissions), &a.Permissions); err != nil {
		return fmt.Errorf("decode permissions of %s: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(d.Metadata), &a.Metadata); err != nil {
		return fmt.Errorf("decode metadata of %s: %w", a.ID, err)
	}
	if len(a.Metadata) == 0 {
		a.Metadata = nil
	}
	return nil
}
