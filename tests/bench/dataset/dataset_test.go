package dataset_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
)

// testSigningKey keeps the audit key out of the source tree.
const testSigningKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// TestReferencePolicyAgreesWithKavach pins the comparison's fairness: the reference policy
// the OPA server runs gives the same answer as Kavach, code and grant included, for every
// request of the mix, and both give the answer the mix expects.
func TestReferencePolicyAgreesWithKavach(t *testing.T) {
	t.Parallel()
	t.Run("template", func(t *testing.T) { referenceAgreesWithKavach(t, nil) })
	// Agents with a permission of their own answer every call as before.
	t.Run("own", func(t *testing.T) { referenceAgreesWithKavach(t, []func(*agent.Agent, int){dataset.OwnPermission}) })
}

func referenceAgreesWithKavach(t *testing.T, adjust []func(*agent.Agent, int)) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kavach.db")
	s, err := kavach.OpenStore(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		buf    bytes.Buffer
		agents []*agent.Agent
	)
	data := dataset.NewOPAData(&buf)
	err = dataset.Populate(ctx, s, 3, func(a *agent.Agent, _ string) error {
		agents = append(agents, a)
		return data.Add(a)
	}, adjust...)
	if err == nil {
		err = data.Close()
	}
	s.Close()
	if err != nil {
		t.Fatal(err)
	}

	k, err := kavach.Open(ctx, kavach.Config{Database: "sqlite://" + path, Audit: kavach.AuditConfig{SigningKey: testSigningKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	ref := prepareReference(t, buf.Bytes())

	mix, _ := dataset.Mix("mixed")
	actx := kavach.WithActor(ctx, api.Actor{Role: api.RoleAdmin, TenantID: dataset.Tenant})
	for _, a := range agents {
		for _, m := range mix {
			id := a.ID
			if m.Unknown {
				id = dataset.UnknownAgentID
			}
			got, err := k.Authorize(actx, id, api.AuthorizeRequest{Action: m.Action, Resource: m.Resource, Arguments: m.Arguments}, api.CallContext{IP: m.IP})
			if err != nil {
				t.Fatal(err)
			}
			if got.Allowed != m.Allowed || got.Code != m.Code {
				t.Errorf("%s: kavach said %s, the mix expects %s", m.Name, got.Code, m.Code)
			}
			want := reference(t, ref, id, m)
			if want.Allowed != got.Allowed || want.Code != got.Code || want.Grant != got.Grant {
				t.Errorf("%s: kavach said %s (grant %q), the reference policy %s (grant %q)", m.Name, got.Code, got.Grant, want.Code, want.Grant)
			}
		}
	}
}

func prepareReference(t *testing.T, data []byte) rego.PreparedEvalQuery {
	t.Helper()
	src, err := os.ReadFile("../reference.rego")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	q, err := rego.New(
		rego.Query("data.reference.decision"),
		rego.Module("reference.rego", string(src)),
		rego.Store(inmem.NewFromObject(doc)),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

type refDecision struct {
	Allowed bool             `json:"allowed"`
	Code    api.DecisionCode `json:"code"`
	Grant   string           `json:"grant"`
}

func reference(t *testing.T, q rego.PreparedEvalQuery, agentID string, m dataset.Request) refDecision {
	t.Helper()
	input := map[string]any{"agent_id": agentID, "action": m.Action, "resource": m.Resource}
	if m.Arguments != nil {
		input["arguments"] = m.Arguments
	}
	if m.IP != "" {
		input["ip"] = m.IP
	}
	rs, err := q.Eval(context.Background(), rego.EvalInput(input))
	if err != nil {
		t.Fatalf("%s: %v", m.Name, err)
	}
	if len(rs) != 1 {
		t.Fatalf("%s: the reference policy gave %d results", m.Name, len(rs))
	}
	b, _ := json.Marshal(rs[0].Expressions[0].Value)
	var d refDecision
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}
