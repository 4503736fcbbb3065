package kavach_test

import (
	"testing"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/decisiontable"
)

// TestDecisionTable runs the shared decision table (tests/rego/testdata/decisions.json)
// through the whole engine — store, compilation, Rego, obligations, audit — on both
// backends. The Rego tests run the same table against the policy alone.
func TestDecisionTable(t *testing.T) {
	cases, err := decisiontable.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 60 {
		t.Fatalf("the decision table has %d cases; it must keep at least 60", len(cases))
	}
	eachBackend(t, func(t *testing.T, f *fixture) {
		for _, c := range cases {
			t.Run(c.Name, func(t *testing.T) { runCase(t, f, c) })
		}
	})
}

func runCase(t *testing.T, f *fixture, c decisiontable.Case) {
	req := api.AuthorizeRequest{Action: c.Req.Action, Resource: c.Req.Resource, Arguments: c.Req.Arguments}
	cc := api.CallContext{IP: c.Req.IP}
	id, token := "agt_does_not_exist", ""
	var grants []string
	if a := c.Agent(); a != nil {
		created := t0(c)
		f.set(created)
		res, err := f.k.Agents().Create(root, api.CreateAgentRequest{
			OwnerID: "owner", Name: c.Name, Permissions: c.Subject.Permissions, ExpiresAt: a.ExpiresAt,
		})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		id, token = res.ID, res.Token
		for _, p := range res.Permissions {
			grants = append(grants, p.ID)
		}
		if a.Status == "revoked" {
			if _, err := f.k.Agents().Revoke(root, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.set(c.At)
	call := func() *api.Decision {
		t.Helper()
		var d *api.Decision
		var err error
		switch c.By {
		case "token":
			d, err = f.k.AuthorizeToken(root, token, req, cc)
		case "bad-token":
			d, err = f.k.AuthorizeToken(root, "kv_"+token[3:len(token)-2]+"zz", req, cc)
		default:
			d, err = f.k.Authorize(root, id, req, cc)
		}
		if err != nil {
			t.Fatalf("authorize: %v", err)
		}
		if d.AuditID == "" {
			t.Fatalf("decision %s has no audit id", d.Code)
		}
		return d
	}
	for i := range c.PriorCalls {
		if d := call(); !d.Allowed {
			t.Fatalf("prior call %d: %s (%s)", i+1, d.Code, d.Reason)
		}
	}
	if c.Approval != "" {
		d := call()
		if d.Code != api.ApprovalRequired || d.ApprovalID == "" {
			t.Fatalf("first call: want APPROVAL_REQUIRED with an id, got %+v", d)
		}
		var err error
		if c.Approval == "approve" {
			_, err = f.k.Approvals().Approve(root, d.ApprovalID, api.ApproveRequest{})
		} else {
			_, err = f.k.Approvals().Deny(root, d.ApprovalID, api.DenyRequest{Reason: "no"})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	d := call()
	if string(d.Code) != c.Want.Code {
		t.Fatalf("code %s (%s), want %s", d.Code, d.Reason, c.Want.Code)
	}
	if d.Allowed != (c.Want.Code == "ALLOWED") {
		t.Fatalf("allowed = %v with code %s", d.Allowed, d.Code)
	}
	if c.Want.Grant != nil && d.Grant != grants[*c.Want.Grant] {
		t.Fatalf("grant %s, want permission %d (%s)", d.Grant, *c.Want.Grant, grants[*c.Want.Grant])
	}
	if d.Code == api.RateLimited && d.RetryAfter <= 0 {
		t.Fatal("RATE_LIMITED without retryAfter")
	}
}

// t0 is when a case's agent is created: an hour before the call, or before its expiry.
func t0(c decisiontable.Case) time.Time {
	at := c.At.Add(-time.Hour)
	if c.Subject.ExpiresAt != nil && !c.Subject.ExpiresAt.After(at) {
		at = c.Subject.ExpiresAt.Add(-time.Hour)
	}
	return at
}
