package kavach

import (
	"context"

	"github.com/kavachos/kavach-go/agent"
)

// Ready reports whether the store answers and every part that decisions depend on (the
// audit pipeline, the change feed, the configured policy bundle) is OK, for readiness
// probes. A part's failure is a *lifecycle.StateError naming it.
func (k *Kavach) Ready(ctx context.Context) error {
	if _, err := k.store.GetTenant(ctx, agent.DefaultTenant); err != nil {
		return err
	}
	return k.parts.NotReady()
}
