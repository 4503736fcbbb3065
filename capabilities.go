package kavach

import (
	"context"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
)

// Capabilities returns the agent's effective grants as the engine compiles them: own
// permissions, then delegated grants still covered. It sees exactly the agents Get sees;
// a revoked or expired agent, or a delegated grant whose chain has expired, grants nothing.
func (s *agentService) Capabilities(ctx context.Context, id string) (*api.Capabilities, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.visible(ctx, act, id)
	if err != nil {
		return nil, err
	}
	out := &api.Capabilities{AgentID: a.ID, Status: a.Status, Capabilities: []api.Capability{}}
	now := s.k.clock()
	if a.Usable(now) != nil {
		return out, nil
	}
	grants, err := s.k.engine.EffectiveGrants(ctx, a)
	if err != nil {
		return nil, apiError(err)
	}
	for _, g := range grants {
		if g.ExpiresNS != 0 && now.UnixNano() >= g.ExpiresNS {
			continue
		}
		out.Capabilities = append(out.Capabilities, capabilityOf(g))
	}
	return out, nil
}

func capabilityOf(g engine.Grant) api.Capability {
	c := api.Capability{Grant: g.ID, Resource: g.Resource, Actions: append([]string(nil), g.Actions...), Via: g.Via}
	if g.ExpiresNS != 0 {
		t := time.Unix(0, g.ExpiresNS).UTC()
		c.ExpiresAt = &t
	}
	if gc := g.Constraints; gc != nil {
		c.Constraints = &api.CapabilityConstraints{
			IPAllowlist: gc.IPAllowlist, TimeWindows: gc.TimeWindows, ArgumentPatterns: gc.ArgumentPatterns,
			RateLimit: gc.RateLimits, Approval: gc.Approval,
		}
	}
	return c
}
