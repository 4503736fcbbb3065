package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// approvalRow is one pending request as the page and the JSON feed show it.
type approvalRow struct {
	ID         string `json:"id"`
	AgentID    string `json:"agentId"`
	AgentName  string `json:"agentName"`
	OwnerID    string `json:"ownerId"`
	Action     string `json:"action"`
	Resource   string `json:"resource"`
	Arguments  string `json:"arguments"`
	ExpiresAt  string `json:"expiresAt"`
	TimeLeft   string `json:"timeLeft"`
	DefaultTTL string `json:"defaultTtl"`
}

func (c *Console) pending(w http.ResponseWriter, r *http.Request, s *session) ([]approvalRow, bool) {
	ctx := c.ctx(r, s)
	list, err := c.k.Approvals().List(ctx, api.ListApprovalsRequest{Status: agent.ApprovalPending, Limit: api.MaxLimit})
	if err != nil {
		c.fail(w, s, err)
		return nil, false
	}
	now := c.cfg.Now()
	names := map[string]string{}
	rows := make([]approvalRow, 0, len(list.Approvals))
	for _, a := range list.Approvals {
		name, ok := names[a.AgentID]
		if !ok {
			if ag, err := c.k.Agents().Get(ctx, a.AgentID); err == nil {
				name = ag.Name
			}
			names[a.AgentID] = name
		}
		args := ""
		if len(a.Arguments) > 0 {
			b, _ := json.Marshal(a.Arguments)
			args = string(b)
		}
		rows = append(rows, approvalRow{
			ID: a.ID, AgentID: a.AgentID, AgentName: name, OwnerID: a.OwnerID,
			Action: a.Action, Resource: a.Resource, Arguments: args,
			ExpiresAt: a.ExpiresAt.UTC().Format(time.RFC3339), TimeLeft: timeLeft(a.ExpiresAt.Sub(now)),
			DefaultTTL: a.GrantTTL.String(),
		})
	}
	return rows, true
}

func timeLeft(d time.Duration) string {
	if d <= 0 {
		return "expired"
	}
	d = d.Round(time.Second)
	if d >= time.Minute {
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

func (c *Console) approvalsPage(w http.ResponseWriter, r *http.Request, s *session) {
	rows, ok := c.pending(w, r, s)
	if !ok {
		return
	}
	c.render(w, http.StatusOK, "approvals", c.view(s, "approvals", "Pending approvals", r, rows))
}

// approvalsJSON feeds the page's live refresh: the ids tell the script whether to reload.
func (c *Console) approvalsJSON(w http.ResponseWriter, r *http.Request, s *session) {
	rows, ok := c.pending(w, r, s)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"approvals": rows})
}

func (c *Console) approve(w http.ResponseWriter, r *http.Request, s *session) {
	req := api.ApproveRequest{Reason: trimmed(r, "reason")}
	if v := trimmed(r, "uses"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			c.fail(w, s, &api.Error{Code: api.CodeInvalidInput, Field: "uses", Message: "uses: not a whole number"})
			return
		}
		req.Uses = n
	}
	if v := trimmed(r, "ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			c.fail(w, s, &api.Error{Code: api.CodeInvalidInput, Field: "ttl", Message: "ttl: not a duration such as 10m or 1h"})
			return
		}
		req.TTL = agent.Duration(d)
	}
	id := r.PathValue("id")
	if _, err := c.k.Approvals().Approve(c.ctx(r, s), id, req); err != nil {
		c.fail(w, s, err)
		return
	}
	c.redirect(w, r, "/approvals", "approved")
}

func (c *Console) deny(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := c.k.Approvals().Deny(c.ctx(r, s), id, api.DenyRequest{Reason: trimmed(r, "reason")}); err != nil {
		c.fail(w, s, err)
		return
	}
	c.redirect(w, r, "/approvals", "denied")
}
