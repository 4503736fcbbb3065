package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"
)

// canonicalEvent fixes the order and form of an event's fields for hashing. Times are UTC
// with microsecond precision, as both backends keep them; arguments are the stored JSON
// text, verbatim.
type canonicalEvent struct {
	V          int             `json:"v"`
	TenantID   string          `json:"tenantId"`
	Seq        int64           `json:"seq"`
	ID         string          `json:"id"`
	Time       string          `json:"time"`
	Kind       string          `json:"kind"`
	AgentID    string          `json:"agentId"`
	OwnerID    string          `json:"ownerId"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	Resource   string          `json:"resource"`
	Arguments  json.RawMessage `json:"arguments"`
	Result     string          `json:"result"`
	Code       string          `json:"code"`
	Reason     string          `json:"reason"`
	DurationNS int64           `json:"durationNs"`
	IP         string          `json:"ip"`
	UserAgent  string          `json:"userAgent"`
	Grant      string          `json:"grant"`
	Via        []string        `json:"via"`
	ApprovalID string          `json:"approvalId"`
	Revision   string          `json:"revision"`
}

// CanonicalEvent is the byte form of an event that its hash covers: every field but the
// hashes themselves, seq included, so that reordering, editing or moving an event breaks
// the chain.
func CanonicalEvent(e *AuditEvent) []byte {
	args := json.RawMessage("null")
	if e.ArgumentsJSON != "" {
		args = json.RawMessage(e.ArgumentsJSON)
	}
	via := e.Via
	if via == nil {
		via = []string{}
	}
	b, err := json.Marshal(canonicalEvent{
		V: 1, TenantID: e.TenantID, Seq: e.Seq, ID: e.ID,
		Time: e.Time.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano),
		Kind: e.Kind, AgentID: e.AgentID, OwnerID: e.OwnerID, Actor: e.Actor, Action: e.Action,
		Resource: e.Resource, Arguments: args, Result: e.Result, Code: e.Code, Reason: e.Reason,
		DurationNS: e.DurationNS, IP: e.IP, UserAgent: e.UserAgent, Grant: e.Grant, Via: via,
		ApprovalID: e.ApprovalID, Revision: e.Revision,
	})
	if err != nil {
		// Only invalid stored argument text can fail here; hash it as such so that
		// verification reports the event rather than crashing.
		return []byte("invalid:" + e.ID + ":" + e.ArgumentsJSON)
	}
	return b
}

// ChainHash is hex(SHA-256(prevHash ‖ "\n" ‖ canonical event)).
func ChainHash(prevHash string, e *AuditEvent) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write([]byte{'\n'})
	h.Write(CanonicalEvent(e))
	return hex.EncodeToString(h.Sum(nil))
}

// PrepareChain readies events for appending to one tenant's chain whose head is
// (seq, hash): it fills ArgumentsJSON, Seq, PrevHash and Hash, and returns the new head.
// Backends call it under the tenant's lock.
func PrepareChain(events []*AuditEvent, seq int64, hash string) (int64, string, error) {
	for _, e := range events {
		if e.Arguments != nil {
			args, err := EncodeArguments(e.Arguments)
			if err != nil {
				return 0, "", err
			}
			e.ArgumentsJSON = *args
		} else {
			e.ArgumentsJSON = ""
		}
		e.Time = e.Time.UTC().Truncate(time.Microsecond)
		seq++
		e.Seq, e.PrevHash = seq, hash
		e.Hash = ChainHash(hash, e)
		hash = e.Hash
	}
	return seq, hash, nil
}

// ByTenant groups events by tenant, keeping their order within each tenant, and returns
// the tenants in sorted order so that backends take their locks in one order.
func ByTenant(events []*AuditEvent) ([]string, map[string][]*AuditEvent) {
	groups := map[string][]*AuditEvent{}
	var tenants []string
	for _, e := range events {
		if _, ok := groups[e.TenantID]; !ok {
			tenants = append(tenants, e.TenantID)
		}
		groups[e.TenantID] = append(groups[e.TenantID], e)
	}
	slices.Sort(tenants)
	return tenants, groups
}

// CollectAudit returns the events StreamAudit would stream, in a slice: for small queries
// and tests.
func CollectAudit(ctx context.Context, s AuditStore, q AuditQuery) ([]*AuditEvent, error) {
	var out []*AuditEvent
	err := s.StreamAudit(ctx, q, func(e *AuditEvent) error {
		out = append(out, e)
		return nil
	})
	return out, err
}
