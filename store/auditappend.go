package store

import (
	"errors"
	"fmt"
)

// Appends are idempotent by event id. A writer that lost its connection after sending
// COMMIT cannot know whether its events were committed, so it sends them again; the
// backend then recognises the ones it already holds (ErrConflict on the id makes it look)
// and appends only the rest.
var (
	// ErrCommitUnknown marks a failure after COMMIT was sent: the transaction may or may
	// not have committed. Appending the same events again settles it.
	ErrCommitUnknown = errors.New("commit outcome unknown")
	// ErrIntegrity marks an event id that the ledger already holds with other content.
	ErrIntegrity = errors.New("integrity")
)

// IntegrityError names an event whose id the ledger holds with different content. Such an
// event cannot be appended: the writer must set it aside and say so loudly.
type IntegrityError struct {
	ID string
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("audit event %s is already in the ledger with different content: %v", e.ID, ErrIntegrity)
}

func (e *IntegrityError) Unwrap() error { return ErrIntegrity }

// Reconcile compares events with the ones the ledger already holds under the same ids
// (committed, keyed by id). An event committed with the same content takes its stored
// place in the chain (seq, prevHash, hash); the others are returned, in order, still to be
// appended. An id committed with different content is an IntegrityError.
func Reconcile(committed map[string]*AuditEvent, events []*AuditEvent) ([]*AuditEvent, error) {
	if len(committed) == 0 {
		return events, nil
	}
	fresh := events[:0:0]
	for _, e := range events {
		stored, ok := committed[e.ID]
		if !ok {
			fresh = append(fresh, e)
			continue
		}
		if !sameContent(stored, e) {
			return nil, &IntegrityError{ID: e.ID}
		}
		e.Seq, e.PrevHash, e.Hash, e.ArgumentsJSON, e.Time = stored.Seq, stored.PrevHash, stored.Hash, stored.ArgumentsJSON, stored.Time
		e.TraceID = stored.TraceID
	}
	return fresh, nil
}

// sameContent reports whether pending, put in stored's place in the chain, hashes to
// stored's hash: every field but the chain position is then the same.
func sameContent(stored, pending *AuditEvent) bool {
	if stored.TenantID != pending.TenantID {
		return false
	}
	c := *pending
	c.Seq = stored.Seq
	if !ValidTraceID(c.TraceID) {
		c.TraceID = ""
	}
	c.ArgumentsJSON = ""
	if c.Arguments != nil {
		args, err := EncodeArguments(c.Arguments)
		if err != nil {
			return false
		}
		c.ArgumentsJSON = *args
	}
	return ChainHash(stored.PrevHash, &c) == stored.Hash
}

// AuditIDs returns the events' ids, for looking up which are already committed.
func AuditIDs(events []*AuditEvent) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}
