package engine

import (
	"encoding/binary"
	"unsafe"
)

// An agent's profile is everything Kavach's policy reads about the agent apart from who it
// is: its status and expiry and, for each grant in order, the grant's shape and expiry. The
// policy looks an agent up by its id and copies its tenant, owner and grant ids into the
// answer, but never compares them, so two agents with one profile get the same answer to
// the same call but for those. Agents made from one template share a profile, and the
// decision memo keeps one answer for all of them (memo.go); TestProfilesShareAnswers
// compares such answers with the policy's own.
//
// An agent has no profile when a grant carries obligations or comes through a delegation:
// the answer then holds its own rate keys, approvers or chain.

// appendProfile appends c's profile to b, or reports false if c has none. Shapes are
// interned, so a shape is written as its address: equal addresses, equal shapes, as long as
// the shapes stay alive — a memo entry holds those of its key (memoEntry.shapes).
func (c *compiledAgent) appendProfile(b []byte) ([]byte, bool) {
	b = append(binary.AppendUvarint(b, uint64(len(c.status))), c.status...)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.expiresNS))
	for i := range c.grants {
		g := &c.grants[i]
		if g.more != nil {
			return b, false
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(uintptr(unsafe.Pointer(g.shape))))
		b = binary.LittleEndian.AppendUint64(b, uint64(g.expiresNS))
	}
	return b, true
}

// shapes lists c's grants' shapes, for a memo entry keyed by c's profile to hold.
func (c *compiledAgent) shapes() []*grantShape {
	s := make([]*grantShape, len(c.grants))
	for i := range c.grants {
		s[i] = c.grants[i].shape
	}
	return s
}
