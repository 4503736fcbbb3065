package kavach

import (
	"context"
	"time"

	"github.com/kavachos/kavach-go/api"
)

// AuthorizeTokenAs is AuthorizeToken for a caller that also names the agent it asks about,
// as an AuthZEN subject does: the token must belong to agentID. A token that is not valid
// is the audited decision TOKEN_INVALID, exactly as AuthorizeToken answers it; a valid token
// of another agent is a forbidden error and no decision, since an agent may only ask about
// itself. Everything else is AuthorizeToken's one decision path.
func (k *Kavach) AuthorizeTokenAs(ctx context.Context, token, agentID string, req api.AuthorizeRequest, cc api.CallContext) (*api.Decision, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := validateCall(req, cc); err != nil {
		return nil, err
	}
	start := time.Now()
	resolved, res := k.resolveToken(ctx, act, token, k.callTime(cc, req.DryRun))
	if res == nil && resolved != agentID {
		e := api.Errorf(api.CodeForbidden, "an agent's token may only ask about that agent: the subject is not the token's agent")
		e.Field = "subject.id"
		return nil, e
	}
	if res == nil {
		r := k.decide(ctx, act, resolved, req, cc)
		res = &r
	}
	return k.finish(ctx, act, resolved, req, cc, *res, start), nil
}
