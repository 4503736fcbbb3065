package kavach

import (
	"context"

	"github.com/kavachos/kavach-go/agent"
)

// Ready reports whether the store answers and the configured policy is active, for
// readiness probes.
func (k *Kavach) Ready(ctx context.Context) error {
	if _, err := k.store.GetTenant(ctx, agent.DefaultTenant); err != nil {
		return err
	}
	if err := k.feedReady(); err != nil {
		return err
	}
	return k.policyReady()
}
