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
	p, err := EncodePermissions(a.Permissions)
	if err != nil {
		return AgentDocs{}, err
	}
	meta := a.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	m, err := json.Marshal(meta)
	if err != nil {
		return AgentDocs{}, fmt.Errorf("encode metadata: %w", err)
	}
	return AgentDocs{Permissions: p, Metadata: string(m)}, nil
}

// DecodeAgentDocs fills an agent's permissions and metadata from their JSON form.
func DecodeAgentDocs(a *agent.Agent, d AgentDocs) error {
	var dec AgentDecoder
	return dec.DecodeAgentDocs(a, d)
}

// EncodePermissions marshals permissions — an agent's own or those a delegation hands
// on — as a JSON array, never null.
func EncodePermissions(perms []agent.Permission) (string, error) {
	if perms == nil {
		perms = []agent.Permission{}
	}
	b, err := json.Marshal(perms)
	if err != nil {
		return "", fmt.Errorf("encode permissions: %w", err)
	}
	return string(b), nil
}

// DecodePermissions unmarshals permissions encoded by EncodePermissions.
func DecodePermissions(doc string, perms *[]agent.Permission) error {
	var dec AgentDecoder
	return dec.DecodePermissions(doc, perms)
}

// ApprovalDocs is the JSON form in which both backends keep an approval request's
// arguments and approvers. Arguments is nil, stored as NULL, for nil arguments.
type ApprovalDocs struct {
	Arguments *string
	Approvers string
}

// EncodeApprovalDocs marshals a request's arguments and approvers.
func EncodeApprovalDocs(r *agent.ApprovalRequest) (ApprovalDocs, error) {
	args, err := EncodeArguments(r.Arguments)
	if err != nil {
		return ApprovalDocs{}, err
	}
	approvers, err := EncodeList(r.Approvers)
	if err != nil {
		return ApprovalDocs{}, err
	}
	return ApprovalDocs{Arguments: args, Approvers: approvers}, nil
}

// DecodeApprovalDocs fills a request's arguments and approvers from their JSON form.
func DecodeApprovalDocs(r *agent.ApprovalRequest, d ApprovalDocs) error {
	if err := DecodeArguments(d.Arguments, &r.Arguments); err != nil {
		return fmt.Errorf("decode arguments of %s: %w", r.ID, err)
	}
	if err := DecodeList(d.Approvers, &r.Approvers); err != nil {
		return fmt.Errorf("decode approvers of %s: %w", r.ID, err)
	}
	return nil
}

// AuditDocs is the JSON form in which both backends keep an audit event's arguments and
// via list. Arguments is nil, stored as NULL, for nil arguments.
type AuditDocs struct {
	Arguments *string
	Via       string
}

// EncodeAuditDocs returns an event's stored arguments text (set by PrepareChain) and its
// via list as JSON.
func EncodeAuditDocs(e *AuditEvent) (AuditDocs, error) {
	var args *string
	if e.ArgumentsJSON != "" {
		a := e.ArgumentsJSON
		args = &a
	}
	via, err := EncodeList(e.Via)
	if err != nil {
		return AuditDocs{}, err
	}
	return AuditDocs{Arguments: args, Via: via}, nil
}

// DecodeAuditDocs fills an event's arguments and via list from their JSON form.
func DecodeAuditDocs(e *AuditEvent, d AuditDocs) error {
	if d.Arguments != nil {
		e.ArgumentsJSON = *d.Arguments
	}
	// Arguments that no longer parse are left out rather than failing the read: the
	// event's hash covers ArgumentsJSON, so verification reports the damaged event.
	_ = DecodeArguments(d.Arguments, &e.Arguments)
	if err := DecodeList(d.Via, &e.Via); err != nil {
		return fmt.Errorf("decode via of %s: %w", e.ID, err)
	}
	return nil
}

// EncodeArguments marshals call arguments, keeping nil apart from empty: nil arguments
// encode to nil, which the backends store as NULL.
func EncodeArguments(args map[string]any) (*string, error) {
	if args == nil {
		return nil, nil
	}
	s, _, err := encodeArguments(nil, args)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeArguments unmarshals arguments encoded by EncodeArguments; nil leaves args as is.
func DecodeArguments(doc *string, args *map[string]any) error {
	if doc == nil {
		return nil
	}
	return json.Unmarshal([]byte(*doc), args)
}

// EncodeList marshals a list of ids as a JSON array, never null, so SQL can search it.
func EncodeList(list []string) (string, error) {
	if len(list) == 0 {
		return "[]", nil // what encoding/json writes, without its allocations
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("encode list: %w", err)
	}
	return string(b), nil
}

// DecodeList unmarshals a list encoded by EncodeList; an empty list decodes to nil.
func DecodeList(doc string, list *[]string) error {
	if err := json.Unmarshal([]byte(doc), list); err != nil {
		return err
	}
	if len(*list) == 0 {
		*list = nil
	}
	return nil
}
