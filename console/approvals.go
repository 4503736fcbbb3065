package console

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// approvalRow is one pending request as the page and the JSON feed show it.
type approvalRow struct {
	ID         string    `json:"id"`
	AgentID    string    `json:"agentId"`
	AgentName  string    `json:"agentName"`
	OwnerID    string    `json:"ownerId"`
	Action     string    `json:"action"`
	Resource   string    `json:"resource"`
	Arguments  string    `json:"arguments"`
	ExpiresAt  string    `json:"expiresAt"`
	TimeLeft   string    `json:"timeLeft"`
	DefaultTTL string    `json:"defaultTtl"`
	CreatedAt  time.Time `json:"createdAt"`
	IP         string    `json:"ip,omitempty"`
	UserAgent  string    `json:"userAgent,omitempty"`
	// GateOwner names the agent whose permission holds the approval gate when the call
	// came through a delegation; Via is that delegation chain.
	GateOwner string   `json:"gateOwner,omitempty"`
	Via       []string `json:"via,omitempty"`
	// The form as typed, and what was wrong with it, after a refused decision.
	Uses, TTL, Reason field `json:"-"`
}

type approvalsView struct {
	Pending []approvalRow
	Decided []decidedRow
	Names   map[string]string
}

// decidedRow is a request a person has decided, for the history.
type decidedRow struct {
	agent.ApprovalRequest
	AgentName string
	Arguments string
}

func (c *Console) pending(ctx context.Context, names map[string]string) ([]approvalRow, error) {
	list, err := c.k.Approvals().List(ctx, api.ListApprovalsRequest{Status: agent.ApprovalPending, Limit: api.MaxLimit})
	if err != nil {
		return nil, err
	}
	now := c.cfg.Now()
	rows := make([]approvalRow, 0, len(list.Approvals))
	for _, a := range list.Approvals {
		c.nameAll(ctx, names, a.AgentID)
		row := approvalRow{
			ID: a.ID, AgentID: a.AgentID, AgentName: names[a.AgentID], OwnerID: a.OwnerID,
			Action: a.Action, Resource: a.Resource, Arguments: argumentsText(a.Arguments),
			ExpiresAt: a.ExpiresAt.UTC().Format(time.RFC3339), TimeLeft: timeLeft(a.ExpiresAt.Sub(now)),
			DefaultTTL: duration(a.GrantTTL.D()), CreatedAt: a.CreatedAt,
		}
		c.callContext(ctx, &row, &a, names)
		rows = append(rows, row)
	}
	return rows, nil
}

// callContext adds what the audit recorded of the call that opened the request (the
// caller's address and user agent) and, when the gated grant came through a delegation,
// the chain and the agent at its root, whose permission holds the gate.
func (c *Console) callContext(ctx context.Context, row *approvalRow, a *agent.ApprovalRequest, names map[string]string) {
	since := a.CreatedAt.Add(-time.Second)
	p, err := c.k.Audit().Query(ctx, api.AuditQuery{AgentID: a.AgentID, Action: a.Action, Result: "approval_required",
		Since: &since, Order: "asc", Limit: 20})
	if err == nil {
		for _, e := range p.Events {
			if e.ApprovalID == a.ID {
				row.IP, row.UserAgent = e.IP, e.UserAgent
				break
			}
		}
	}
	caps, err := c.k.Agents().Capabilities(ctx, a.AgentID)
	if err != nil {
		return
	}
	for _, g := range caps.Capabilities {
		if g.Grant != a.PermissionID || len(g.Via) == 0 {
			continue
		}
		row.Via = g.Via
		if d, err := c.k.Delegations().Get(ctx, g.Via[0]); err == nil {
			c.nameAll(ctx, names, d.FromAgentID)
			row.GateOwner = cmp.Or(names[d.FromAgentID], d.FromAgentID)
		}
		return
	}
}

func argumentsText(args map[string]any) string {
	if len(args) == 0 {
		return ""
	}
	b, _ := json.Marshal(args)
	return string(b)
}

// decided lists the requests people decided, newest decision first.
func (c *Console) decided(ctx context.Context, names map[string]string) []decidedRow {
	var out []decidedRow
	for _, st := range []agent.ApprovalStatus{agent.ApprovalApproved, agent.ApprovalUsed, agent.ApprovalDenied, agent.ApprovalExpired} {
		list, err := c.k.Approvals().List(ctx, api.ListApprovalsRequest{Status: st, Limit: api.MaxLimit})
		if err != nil {
			continue
		}
		for _, a := range list.Approvals {
			if a.DecidedAt != nil {
				c.nameAll(ctx, names, a.AgentID)
				out = append(out, decidedRow{ApprovalRequest: a, AgentName: names[a.AgentID], Arguments: argumentsText(a.Arguments)})
			}
		}
	}
	slices.SortFunc(out, func(a, b decidedRow) int { return b.DecidedAt.Compare(*a.DecidedAt) })
	return out[:min(len(out), api.DefaultLimit)]
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
	c.showApprovals(w, r, s, http.StatusOK, nil)
}

// showApprovals renders the page; typed, if set, is a card's form as the person sent it,
// with its errors, so a refused decision keeps what was typed.
func (c *Console) showApprovals(w http.ResponseWriter, r *http.Request, s *session, status int, typed *approvalRow) {
	ctx := c.ctx(r, s)
	names := c.agentNames(ctx)
	rows, err := c.pending(ctx, names)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	for i := range rows {
		if typed != nil && rows[i].ID == typed.ID {
			rows[i].Uses, rows[i].TTL, rows[i].Reason = typed.Uses, typed.TTL, typed.Reason
		}
	}
	v := c.view(s, "approvals", "Approvals", approvalsView{Pending: rows, Decided: c.decided(ctx, names), Names: names})
	if typed != nil {
		v.Error = "The decision was not made: see the request's form."
	}
	c.render(w, status, "approvals", v)
}

// approvalsJSON feeds the page's live refresh: the ids tell the script whether to update.
func (c *Console) approvalsJSON(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := c.ctx(r, s)
	list, err := c.k.Approvals().List(ctx, api.ListApprovalsRequest{Status: agent.ApprovalPending, Limit: api.MaxLimit})
	if err != nil {
		c.fail(w, s, err)
		return
	}
	ids := make([]string, 0, len(list.Approvals))
	for _, a := range list.Approvals {
		ids = append(ids, a.ID)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"ids": ids})
}

func (c *Console) approve(w http.ResponseWriter, r *http.Request, s *session) {
	typed := approvalRow{ID: r.PathValue("id"), Uses: field{Value: trimmed(r, "uses")}, TTL: field{Value: trimmed(r, "ttl")}}
	req := api.ApproveRequest{Reason: trimmed(r, "reason"), Uses: 1}
	if v := typed.Uses.Value; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > api.MaxApprovalUses {
			typed.Uses.Error = fmt.Sprintf("Uses: enter a whole number from 1 to %d.", api.MaxApprovalUses)
		}
		req.Uses = n
	}
	if v := typed.TTL.Value; v != "" {
		d, err := parseDuration(v)
		switch {
		case err != nil:
			typed.TTL.Error = "Valid for: enter a length of time such as 10m, 1h or 2 hours, or leave it empty for the default."
		case d <= 0 || d > api.MaxApprovalTTL:
			typed.TTL.Error = "Valid for: from 1s to " + duration(api.MaxApprovalTTL) + "."
		}
		req.TTL = agent.Duration(d)
	}
	if typed.Uses.Error != "" || typed.TTL.Error != "" {
		c.showApprovals(w, r, s, http.StatusBadRequest, &typed)
		return
	}
	a, err := c.k.Approvals().Approve(c.ctx(r, s), typed.ID, req)
	if err != nil {
		c.decisionFailed(w, r, s, typed.ID, err)
		return
	}
	until := ""
	if a.GrantExpiresAt != nil {
		until = ", until " + a.GrantExpiresAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	calls := "the next identical call is allowed"
	if req.Uses != 1 {
		calls = fmt.Sprintf("the next %d identical calls are allowed", req.Uses)
	}
	c.redirectWith(w, r, "/approvals", flash{Message: fmt.Sprintf("Approved %s on %s for %s (%s): %s%s.",
		a.Action, a.Resource, c.agentName(r, s, a.AgentID), a.ID, calls, until)})
}

func (c *Console) deny(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	reason := trimmed(r, "reason")
	if len(reason) > 1000 {
		c.showApprovals(w, r, s, http.StatusBadRequest, &approvalRow{ID: id, Reason: field{Value: reason, Error: "Reason: at most 1,000 characters."}})
		return
	}
	a, err := c.k.Approvals().Deny(c.ctx(r, s), id, api.DenyRequest{Reason: reason})
	if err != nil {
		c.decisionFailed(w, r, s, id, err)
		return
	}
	c.redirectWith(w, r, "/approvals", flash{Message: fmt.Sprintf("Denied %s on %s for %s (%s). Until %s the same call gets APPROVAL_DENIED%s; after that it asks again.",
		a.Action, a.Resource, c.agentName(r, s, a.AgentID), a.ID, a.ExpiresAt.UTC().Format("2006-01-02 15:04:05 UTC"), withReason(reason))})
}

func withReason(reason string) string {
	if reason == "" {
		return ""
	}
	return " with your reason"
}

func (c *Console) agentName(r *http.Request, s *session, id string) string {
	if a, err := c.k.Agents().Get(c.ctx(r, s), id); err == nil {
		return a.Name
	}
	return id
}

// decisionFailed answers a decision the API refused. A request someone else decided, or
// that expired, is said so in words on the approvals page.
func (c *Console) decisionFailed(w http.ResponseWriter, r *http.Request, s *session, id string, err error) {
	if api.CodeOf(err) != api.CodeConflict {
		c.fail(w, s, err)
		return
	}
	a, gerr := c.k.Approvals().Get(c.ctx(r, s), id)
	if gerr != nil {
		c.fail(w, s, err)
		return
	}
	msg := fmt.Sprintf("Nothing changed: the request for %s on %s (%s) expired before it was decided.", a.Action, a.Resource, a.ID)
	if a.DecidedAt != nil {
		msg = fmt.Sprintf("Nothing changed: the request for %s on %s (%s) was already %s by %s at %s.", a.Action, a.Resource, a.ID,
			decisionWord(a), a.DecidedBy, a.DecidedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	c.redirectWith(w, r, "/approvals", flash{Message: msg})
}

// decisionWord says how a decided request was decided: only an approval has a grant.
func decisionWord(a *agent.ApprovalRequest) string {
	if a.GrantExpiresAt == nil {
		return "denied"
	}
	return "approved"
}
