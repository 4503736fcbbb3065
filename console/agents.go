package console

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// defaultGrace is how long a rotated-out token keeps working unless the person says
// otherwise: long enough to put the new one in place, short enough to matter.
const defaultGrace = time.Hour

func (c *Console) agentsPage(w http.ResponseWriter, r *http.Request, s *session) {
	req := api.ListAgentsRequest{Limit: api.DefaultLimit, Cursor: r.URL.Query().Get("cursor")}
	list, err := c.k.Agents().List(c.ctx(r, s), req)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	c.render(w, http.StatusOK, "agents", c.view(s, "agents", "Agents", list))
}

// namePages bounds how many pages of agents a page view lists for names (and for the
// audit's suggestions); agents beyond are looked up one by one where they are shown.
const namePages = 5

// agentNames maps the ids of the agents the person may see (up to namePages pages of
// them) to their names.
func (c *Console) agentNames(ctx context.Context) map[string]string {
	names := map[string]string{}
	req := api.ListAgentsRequest{Limit: api.MaxLimit}
	for range namePages {
		list, err := c.k.Agents().List(ctx, req)
		if err != nil {
			return names
		}
		for _, a := range list.Agents {
			names[a.ID] = a.Name
		}
		if list.NextCursor == "" {
			return names
		}
		req.Cursor = list.NextCursor
	}
	return names
}

// nameAll adds to names those of ids it lacks; one it may not see is named "".
func (c *Console) nameAll(ctx context.Context, names map[string]string, ids ...string) {
	for _, id := range ids {
		if _, ok := names[id]; ok || id == "" {
			continue
		}
		names[id] = ""
		if a, err := c.k.Agents().Get(ctx, id); err == nil {
			names[id] = a.Name
		}
	}
}

// delegationNode is a delegation and those made from the agent it went to, for the tree.
type delegationNode struct {
	Delegation agent.Delegation
	Status     agent.DelegationStatus
	Children   []delegationNode
}

type agentView struct {
	Agent    *agent.Agent
	Received []delegationNode
	Given    []delegationNode
	// Token is the new token right after a rotation, shown once; Until is when the old one
	// stops working.
	Token, Until string
	Names        map[string]string // agent id → name, for the agents the person may see
	Can          []api.Capability  // effective grants: own permissions and delegated grants
	// Revoked is the management event that revoked the agent, if it is revoked.
	Revoked *agent.AuditEvent
	// Giver names, by delegation id, the agent that gave it.
	Giver map[string]string
}

func (c *Console) agentPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	a, err := c.k.Agents().Get(ctx, r.PathValue("id"))
	if err != nil {
		c.fail(w, s, err)
		return
	}
	all, err := c.k.Delegations().List(ctx, api.ListDelegationsRequest{})
	if err != nil {
		c.fail(w, s, err)
		return
	}
	can, err := c.k.Agents().Capabilities(ctx, a.ID)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	now := c.cfg.Now()
	v := agentView{Agent: a, Given: delegationTree(all.Delegations, a.ID, now, 0), Can: can.Capabilities, Names: c.agentNames(ctx)}
	if f := s.flash; f != nil && f.Agent == a.ID {
		v.Token, v.Until = f.Token, f.Until
	}
	v.Giver = map[string]string{}
	for _, d := range all.Delegations {
		c.nameAll(ctx, v.Names, d.FromAgentID, d.ToAgentID)
		v.Giver[d.ID] = cmp.Or(v.Names[d.FromAgentID], d.FromAgentID)
		if d.ToAgentID == a.ID {
			v.Received = append(v.Received, delegationNode{Delegation: d, Status: d.EffectiveStatus(now)})
		}
	}
	if a.Status == agent.StatusRevoked {
		p, err := c.k.Audit().Query(ctx, api.AuditQuery{AgentID: a.ID, Action: "agent.revoke", Limit: 1})
		if err == nil && len(p.Events) > 0 {
			v.Revoked = &p.Events[0]
		}
	}
	c.render(w, http.StatusOK, "agent", c.view(s, "agents", "Agent "+a.Name, v))
}

// delegationTree lists the delegations from agentID and, under each, those its recipient
// made in turn.
func delegationTree(all []agent.Delegation, agentID string, now time.Time, depth int) []delegationNode {
	if depth > 16 {
		return nil
	}
	var out []delegationNode
	for _, d := range all {
		if d.FromAgentID == agentID {
			out = append(out, delegationNode{Delegation: d, Status: d.EffectiveStatus(now),
				Children: delegationTree(all, d.ToAgentID, now, depth+1)})
		}
	}
	return out
}

// confirmView is a page that asks before an action that cannot be undone, naming what it
// acts on.
type confirmView struct {
	Action  string // where the form posts
	Button  string
	Danger  bool
	Lines   []string
	Back    string
	Grace   *field // rotate only: how long the old token keeps working
	Warning string
}

// field is a form field as typed, with what is wrong with it.
type field struct {
	Value, Error string
}

func (c *Console) rotateForm(a *agent.Agent, grace field) confirmView {
	return confirmView{
		Action: Prefix + "/agents/" + url.PathEscape(a.ID) + "/rotate", Button: "Rotate the token of " + a.Name,
		Lines: []string{"A new token is made for " + a.Name + " (" + a.ID + ") and shown once, on the next page.",
			"The old token keeps working for the grace period below, so the agent can be given the new one first; 0s ends it at once."},
		Back: Prefix + "/agents/" + url.PathEscape(a.ID), Grace: &grace,
	}
}

// rotatePage asks before a rotation, with the grace period to keep the old token.
func (c *Console) rotatePage(w http.ResponseWriter, r *http.Request, s *session) {
	a, err := c.k.Agents().Get(c.ctx(r, s), r.PathValue("id"))
	if err != nil {
		c.fail(w, s, err)
		return
	}
	c.render(w, http.StatusOK, "confirm", c.view(s, "agents", "Rotate the token of "+a.Name, c.rotateForm(a, field{Value: duration(defaultGrace)})))
}

// rotate makes the new token and redirects to the agent's page, which shows it once: a
// reload there rotates nothing, and the token never appears in a URL.
func (c *Console) rotate(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	a, err := c.k.Agents().Get(ctx, r.PathValue("id"))
	if err != nil {
		c.fail(w, s, err)
		return
	}
	grace := field{Value: trimmed(r, "grace")}
	d, err := parseDuration(grace.Value)
	switch {
	case grace.Value == "":
		d = defaultGrace
	case err != nil:
		grace.Error = "Enter a length of time such as 30m, 1h or 0s."
	case d > api.MaxGracePeriod:
		grace.Error = "At most " + duration(api.MaxGracePeriod) + "."
	}
	if grace.Error != "" {
		c.render(w, http.StatusBadRequest, "confirm", c.view(s, "agents", "Rotate the token of "+a.Name, c.rotateForm(a, grace)))
		return
	}
	res, err := c.k.Agents().Rotate(ctx, a.ID, api.RotateRequest{GracePeriod: agent.Duration(d)})
	if err != nil {
		c.fail(w, s, err)
		return
	}
	msg := "Rotated the token of " + a.Name + ". The old token stopped working at once."
	until := ""
	if d > 0 {
		until = c.cfg.Now().Add(d).UTC().Format(time.RFC3339)
		msg = "Rotated the token of " + a.Name + ". The old token keeps working for " + duration(d) + "."
	}
	c.redirectWith(w, r, "/agents/"+url.PathEscape(a.ID), flash{Message: msg, Token: res.Token, Agent: a.ID, Until: until})
}

// revokePage asks before revoking, naming the agent and what else stops.
func (c *Console) revokePage(w http.ResponseWriter, r *http.Request, s *session) {
	a, err := c.k.Agents().Get(c.ctx(r, s), r.PathValue("id"))
	if err != nil {
		c.fail(w, s, err)
		return
	}
	c.render(w, http.StatusOK, "confirm", c.view(s, "agents", "Revoke "+a.Name, confirmView{
		Action: Prefix + "/agents/" + url.PathEscape(a.ID) + "/revoke", Button: "Revoke " + a.Name + " for good", Danger: true,
		Lines: []string{"Revoking " + a.Name + " (" + a.ID + ") denies all its calls from now on, by id and by token, and cannot be undone.",
			"Every delegation it gave stops too, at any depth."},
		Back: Prefix + "/agents/" + url.PathEscape(a.ID),
	}))
}

func (c *Console) revoke(w http.ResponseWriter, r *http.Request, s *session) {
	a, err := c.k.Agents().Revoke(c.ctx(r, s), r.PathValue("id"))
	if err != nil {
		c.fail(w, s, err)
		return
	}
	c.redirectWith(w, r, "/agents/"+url.PathEscape(a.ID), flash{Message: a.Name + " (" + a.ID + ") is revoked for good."})
}

// delegationLines names a delegation for its confirmation page.
func (c *Console) delegationLines(ctx context.Context, d *agent.Delegation) (from, to string) {
	names := map[string]string{}
	c.nameAll(ctx, names, d.FromAgentID, d.ToAgentID)
	from, to = d.FromAgentID, d.ToAgentID
	if n := names[from]; n != "" {
		from = n + " (" + d.FromAgentID + ")"
	}
	if n := names[to]; n != "" {
		to = n + " (" + d.ToAgentID + ")"
	}
	return from, to
}

// revokeDelegationPage asks before ending a delegation, naming both ends.
func (c *Console) revokeDelegationPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	d, err := c.k.Delegations().Get(ctx, r.PathValue("id"))
	if err != nil {
		c.fail(w, s, err)
		return
	}
	from, to := c.delegationLines(ctx, d)
	c.render(w, http.StatusOK, "confirm", c.view(s, "agents", "Revoke delegation "+d.ID, confirmView{
		Action: Prefix + "/delegations/" + url.PathEscape(d.ID) + "/revoke", Button: "Revoke this delegation", Danger: true,
		Lines: []string{"The rights " + from + " gave to " + to + " through " + d.ID + " end now.",
			"What " + to + " passed on from them ends too, at any depth."},
		Back: Prefix + "/agents/" + url.PathEscape(d.FromAgentID),
	}))
}

func (c *Console) revokeDelegation(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	d, err := c.k.Delegations().Revoke(ctx, r.PathValue("id"))
	if err != nil {
		c.fail(w, s, err)
		return
	}
	from, to := c.delegationLines(ctx, d)
	c.redirectWith(w, r, "/agents/"+url.PathEscape(d.FromAgentID), flash{Message: "Revoked delegation " + d.ID + " from " + from + " to " + to + "."})
}
