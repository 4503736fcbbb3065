package audit

import (
	"github.com/kavachos/kavach-go/lifecycle"
)

// Name names the component in readiness reports and metrics.
func (r *Relay) Name() string { return "audit.relay" }

// Status reads the relay's state as a lifecycle status: a relay standing by or publishing
// is OK; a leader whose last attempt failed (the broker or the ledger is unreachable) is
// ERROR until a write or a whole pass succeeds again.
func (r *Relay) Status() lifecycle.Status {
	st := r.Stats()
	r.statsMu.Lock()
	caughtUp := r.lastCaughtUpAt
	r.statsMu.Unlock()
	switch st.State {
	case RelayNew:
		return lifecycle.Status{State: lifecycle.NotReady, Message: "not started"}
	case RelayStopping, RelayStopped:
		return lifecycle.Status{State: lifecycle.NotReady, Message: st.State.String()}
	case RelayLeading:
		if st.LastError != "" && st.LastErrorAt.After(st.LastWriteAt) && st.LastErrorAt.After(caughtUp) {
			return lifecycle.Status{State: lifecycle.Error, Message: "publishing fails: " + st.LastError, Since: st.LastErrorAt}
		}
	}
	return lifecycle.Status{State: lifecycle.OK, Message: st.State.String()}
}
