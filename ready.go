package kavach

import (
	"context"

	"github.com/kavachos/kavach-go/agent"
)

// Ready reports whether the store answers, for readiness probes.
func (k *Kavach) Ready(ctx context.Context) error {
	_, err := k.store.GetTenant(ctx, agent.DefaultTenant)
	return err
}
