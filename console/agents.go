package console

import (
	"net/http"
	"net/url"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// flashes are the messages a redirect after a POST may ask for; only these are shown, so a
// link cannot put words of its own on the page.
var flashes = map[string]string{
	"approved": "Approved. The agent's next identical call is allowed.",
	"denied":   "Denied. The agent's identical calls get APPROVAL_DENIED.",
	"revoked":  "The agent is revoked for good.",
}

func (c *Console) view(s *session, nav, title string, r *http.Request, data any) view {
	return view{Title: title, Nav: nav, User: s.User, Role: s.Role, CSRF: c.csrf(s),
		Flash: flashes[r.URL.Query().Get("done")], Data: data}
}

func (c *Console) redirect(w http.ResponseWriter, r *http.Request, path, done string) {
	http.Redirect(w, r, Prefix+path+"?done="+url.QueryEscape(done), http.StatusSeeOther)
}

func (c *Console) agentsPage(w http.ResponseWriter, r *http.Request, s *session) {
	req := api.ListAgentsRequest{Limit: api.DefaultLimit, Cursor: r.URL.Query().Get("cursor")}
	list, err := c.k.Agents().List(c.ctx(r, s), req)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	c.render(w, http.StatusOK, "agents", c.view(s, "agents", "Agents", r, list))
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
	Token    string
	Names    map[string]string // agent id → name, for the agents the person may see
	Can      []api.Capability  // effective grants: own permissions and delegated grants
}

func (c *Console) agentPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showAgent(w, r, s, "")
}

func (c *Console) showAgent(w http.ResponseWriter, r *http.Request, s *session, token string) {
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
	v := agentView{Agent: a, Token: token, Given: delegationTree(all.Delegations, a.ID, now, 0), Can: can.Capabilities}
	for _, d := range all.Delegations {
		if d.ToAgentID == a.ID {
			v.Received = append(v.Received, delegationNode{Delegation: d, Status: d.EffectiveStatus(now)})
		}
	}
	v.Names = map[string]string{a.ID: a.Name}
	for _, d := range all.Delegations {
		for _, id := range []string{d.FromAgentID, d.ToAgentID} {
			if _, ok := v.Names[id]; !ok {
				if other, err := c.k.Agents().Get(ctx, id); err == nil {
					v.Names[id] = other.Name
				}
			}
		}
	}
	c.render(w, http.StatusOK, "agent", c.view(s, "agents", "Agent "+a.Name, r, v))
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

// rotate shows the new token once, on the page the POST answers; it is never put in a URL.
func (c *Console) rotate(w http.ResponseWriter, r *http.Request, s *session) {
	req := api.RotateRequest{}
	if v := trimmed(r, "grace"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			c.fail(w, s, &api.Error{Code: api.CodeInvalidInput, Field: "grace", Message: "grace period: not a duration such as 0s or 1h"})
			return
		}
		req.GracePeriod = agent.Duration(d)
	}
	res, err := c.k.Agents().Rotate(c.ctx(r, s), r.PathValue("id"), req)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	c.showAgent(w, r, s, res.Token)
}

func (c *Console) revoke(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := c.k.Agents().Revoke(c.ctx(r, s), id); err != nil {
		c.fail(w, s, err)
		return
	}
	c.redirect(w, r, "/agents/"+url.PathEscape(id), "revoked")
}
