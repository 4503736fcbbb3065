package service_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// The specification's examples (sections "Access Evaluation API", "Access Evaluations
// API", "Evaluations semantics" and the HTTPS binding), as printed there, with the subject
// adapted to one of Kavach's agents: {"type": "user", "id": "alice@example.com"} becomes
// {"type": "agent", "id": "agt_…"}.
var authzenSpecExamples = []struct {
	name, path, body string
	want             []bool // the decisions of the specification's response; nil for a single one
	single           bool
}{
	{"evaluation request", "/access/v1/evaluation", `{
  "subject": SUBJECT,
  "resource": {
    "type": "account",
    "id": "123"
  },
  "action": {
    "name": "can_read",
    "properties": {
      "method": "GET"
    }
  },
  "context": {
    "time": "1985-10-26T01:22-07:00"
  }
}`, []bool{true}, true},
	{"HTTPS evaluation request", "/access/v1/evaluation", `{
  "subject": SUBJECT,
  "resource": {
    "type": "todo",
    "id": "1"
  },
  "action": {
    "name": "can_read"
  },
  "context": {
    "time": "1985-10-26T01:22-07:00"
  }
}`, []bool{true}, true},
	{"evaluations without defaults", "/access/v1/evaluations", `{
  "evaluations": [
    {
      "subject": SUBJECT,
      "action": {
        "name": "can_read"
      },
      "resource": {
        "type": "document",
        "id": "boxcarring.md"
      },
      "context": {
        "time": "2024-05-31T15:22-07:00"
      }
    },
    {
      "subject": SUBJECT,
      "action": {
        "name": "can_read"
      },
      "resource": {
        "type": "document",
        "id": "subject-search.md"
      },
      "context": {
        "time": "2024-05-31T15:22-07:00"
      }
    },
    {
      "subject": SUBJECT,
      "action": {
        "name": "can_read"
      },
      "resource": {
        "type": "document",
        "id": "resource-search.md"
      },
      "context": {
        "time": "2024-05-31T15:22-07:00"
      }
    }
  ]
}`, []bool{true, true, false}, false},
	{"default subject and context", "/access/v1/evaluations", `{
  "subject": SUBJECT,
  "context": {
    "time": "2024-05-31T15:22-07:00"
  },
  "evaluations": [
    {
      "action": {
        "name": "can_read"
      },
      "resource": {
        "type": "document",
        "id": "boxcarring.md"
      }
    },
    {
      "action": {
        "name": "can_read"
      },
      "resource": {
        "type": "document",
        "id": "subject-search.md"
      }
    },
    {
      "action": {
        "name": "can_read"
      },
      "resource": {
        "type": "document",
        "id": "resource-search.md"
      }
    }
  ]
}`, []bool{true, true, false}, false},
	{"default action overridden (HTTPS binding)", "/access/v1/evaluations", `{
  "subject": SUBJECT,
  "context": {
    "time": "2024-05-31T15:22-07:00"
  },
  "action": {
    "name": "can_read"
  },
  "evaluations": [
    {
      "resource": {
        "type": "document",
        "id": "boxcarring.md"
      }
    },
    {
      "resource": {
        "type": "document",
        "id": "subject-search.md"
      }
    },
    {
      "action": {
        "name": "can_edit"
      },
      "resource": {
        "type": "document",
        "id": "resource-search.md"
      }
    }
  ]
}`, []bool{true, true, true}, false},
	{"execute_all", "/access/v1/evaluations", semanticsExample("execute_all"), []bool{true, false, true}, false},
	{"deny_on_first_deny", "/access/v1/evaluations", semanticsExample("deny_on_first_deny"), []bool{true, false}, false},
	{"permit_on_first_permit", "/access/v1/evaluations", semanticsExample("permit_on_first_permit"), []bool{true}, false},
}

func semanticsExample(semantic string) string {
	return `{
  "subject": SUBJECT,
  "action": {
    "name": "read"
  },
  "options": {
    "evaluations_semantic": "` + semantic + `"
  },
  "evaluations": [
    {
      "resource": {
        "type": "document",
        "id": "1"
      }
    },
    {
      "resource": {
        "type": "document",
        "id": "2"
      }
    },
    {
      "resource": {
        "type": "document",
        "id": "3"
      }
    }
  ]
}`
}

// TestAuthZENSpecificationExamples runs the specification's examples over HTTP and
// compares the decisions with its responses (the agent holds the grants the example's
// answers presuppose), and checks the request id the HTTPS binding echoes.
func TestAuthZENSpecificationExamples(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t,
		agent.Permission{Resource: "account:123", Actions: []string{"can_read"}},
		agent.Permission{Resource: "todo:1", Actions: []string{"can_read"}},
		agent.Permission{Resource: "document:boxcarring.md", Actions: []string{"can_read"}},
		agent.Permission{Resource: "document:subject-search.md", Actions: []string{"can_read"}},
		agent.Permission{Resource: "document:resource-search.md", Actions: []string{"can_edit"}},
		agent.Permission{Resource: "document:1", Actions: []string{"read"}},
		agent.Permission{Resource: "document:3", Actions: []string{"read"}},
	)
	subject := `{
    "type": "agent",
    "id": "` + a.ID + `"
  }`
	for _, ex := range authzenSpecExamples {
		body := strings.ReplaceAll(ex.body, "SUBJECT", subject)
		r := w.post(t, ex.path, w.keys["app"], body, "X-Request-ID", "bfe9eb29-ab87-4ca3-be83-a1d5d8305716")
		if r.header.Get("X-Request-ID") != "bfe9eb29-ab87-4ca3-be83-a1d5d8305716" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: headers %v", ex.name, r.header)
		}
		var got []api.AuthZENDecision
		if ex.single {
			got = []api.AuthZENDecision{r.decision(t)}
		} else {
			got = r.evaluations(t)
		}
		if len(got) != len(ex.want) {
			t.Fatalf("%s: %d decisions, the specification answers %d: %s", ex.name, len(got), len(ex.want), r.body)
		}
		for i, d := range got {
			if d.Decision != ex.want[i] || d.Context == nil || d.Context.AuditID == "" {
				t.Errorf("%s: item %d: %+v, want decision %v", ex.name, i, d.Context, ex.want[i])
			}
		}
	}
	// The options example names no action anywhere: its one item lacks a required member,
	// which is answered in place (§7.2.1), while its unknown option is ignored.
	options := `{"evaluations": [{"resource": {"type": "doc", "id": "1"}, "subject": ` + subject + `}],
  "options": {"evaluations_semantic": "execute_all", "another_option": "value"}}`
	got := w.post(t, "/access/v1/evaluations", w.keys["app"], options).evaluations(t)
	if len(got) != 1 || got[0].Decision || got[0].Context.Error == nil || got[0].Context.Error.Field != "action.name" ||
		got[0].Context.Error.Status != 400 {
		t.Fatalf("options example: %+v", got)
	}
}

// TestAuthZENSemanticProtobufSpelling: options.evaluationsSemantic, the spelling that
// clients generated from protobuf send, selects the semantic as evaluations_semantic does,
// alone or beside an equal evaluations_semantic.
func TestAuthZENSemanticProtobufSpelling(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	items := mixedItems(40, "secret")
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = it.json()
	}
	answers := func(options string) int {
		a := w.agent(t, mixedPermissions...)
		body := `{"subject":{"type":"agent","id":"` + a.ID + `"},"options":` + options + `,"evaluations":[` + strings.Join(parts, ",") + `]}`
		return len(w.post(t, "/access/v1/evaluations", w.keys["app"], body).evaluations(t))
	}
	for _, semantic := range []string{api.ExecuteAll, api.DenyOnFirstDeny, api.PermitOnFirstPermit} {
		want := answers(`{"evaluations_semantic":"` + semantic + `"}`)
		camel := answers(`{"evaluationsSemantic":"` + semantic + `"}`)
		both := answers(`{"evaluations_semantic":"` + semantic + `","evaluationsSemantic":"` + semantic + `"}`)
		if camel != want || both != want {
			t.Errorf("%s: %d answers with evaluations_semantic, %d with evaluationsSemantic, %d with both", semantic, want, camel, both)
		}
	}
	if n := answers(`{"evaluationsSemantic":"` + api.PermitOnFirstPermit + `"}`); n != 41 {
		t.Errorf("permit_on_first_permit spelt evaluationsSemantic stopped after %d items, want 41", n)
	}
	// Only those two spellings: names that differ in case are unknown members, ignored.
	for _, name := range []string{"EvaluationsSemantic", "evaluationssemantic", "Evaluations_Semantic"} {
		if n := answers(`{"` + name + `":"` + api.PermitOnFirstPermit + `"}`); n != len(items) {
			t.Errorf("%s was read as the semantic: %d answers, want all %d", name, n, len(items))
		}
	}
	// An empty value counts as absent.
	if n := answers(`{"evaluations_semantic":"","evaluationsSemantic":"` + api.PermitOnFirstPermit + `"}`); n != 41 {
		t.Errorf("an empty evaluations_semantic beside evaluationsSemantic: %d answers, want 41", n)
	}
}

// batchItem is one evaluation of the mixed workload.
type batchItem struct{ action, resource, args string }

// mixedItems is 100 evaluations: head items of the first kind, then the five kinds in
// turn — public reads (allowed), a rate-limited write (allowed 5 times, then RATE_LIMITED),
// secret reads (NO_PERMISSION), pushes with a good or a refused branch, deletes
// (NO_PERMISSION).
func mixedItems(head int, first string) []batchItem {
	kinds := []string{"public", "limited", "secret", "push", "delete"}
	out := make([]batchItem, 100)
	for i := range out {
		kind := first
		if i >= head {
			kind = kinds[i%len(kinds)]
		}
		switch kind {
		case "public":
			out[i] = batchItem{"read", fmt.Sprintf("doc:public:%d", i), ""}
		case "limited":
			out[i] = batchItem{"write", fmt.Sprintf("doc:limited:%d", i), ""}
		case "secret":
			out[i] = batchItem{"read", fmt.Sprintf("doc:secret:%d", i), ""}
		case "push":
			branch := "dev"
			if i%2 == 0 {
				branch = "main"
			}
			out[i] = batchItem{"push", "repo:kavach", `,"properties":{"arguments":{"branch":"` + branch + `"}}`}
		case "delete":
			out[i] = batchItem{"delete", fmt.Sprintf("doc:public:%d", i), ""}
		}
	}
	return out
}

func (it batchItem) json() string {
	typ, id, _ := strings.Cut(it.resource, ":")
	return `{"action":{"name":"` + it.action + `"` + it.args + `},"resource":{"type":"` + typ + `","id":"` + id + `"}}`
}

var mixedPermissions = []agent.Permission{
	{Resource: "doc:public:*", Actions: []string{"read"}},
	{Resource: "doc:limited:*", Actions: []string{"write"}, Constraints: &agent.Constraints{RateLimit: &agent.RateLimit{Max: 5, Window: agent.Duration(3600e9)}}},
	{Resource: "repo:kavach", Actions: []string{"push"}, Constraints: &agent.Constraints{ArgumentPatterns: map[string]string{"branch": "dev|staging"}}},
}

// TestAuthZENBatchSemantics: 100 mixed evaluations in one request, under each semantic,
// answer item by item what the same evaluations sent one at a time answer (for a twin
// agent, so that rate limits count alike); the short-circuits stop where the
// specification says, and nothing after the stop is judged, charged or audited.
func TestAuthZENBatchSemantics(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	lists := map[string][]batchItem{"allowed first": mixedItems(30, "public"), "denied first": mixedItems(40, "secret")}
	for listName, items := range lists {
		for _, semantic := range []string{api.ExecuteAll, api.DenyOnFirstDeny, api.PermitOnFirstPermit} {
			batchAgent, singleAgent := w.agent(t, mixedPermissions...), w.agent(t, mixedPermissions...)
			parts := make([]string, len(items))
			for i, it := range items {
				parts[i] = it.json()
			}
			body := `{"subject":{"type":"agent","id":"` + batchAgent.ID + `"},"options":{"evaluations_semantic":"` + semantic +
				`"},"evaluations":[` + strings.Join(parts, ",") + `]}`
			got := w.post(t, "/access/v1/evaluations", w.keys["app"], body).evaluations(t)

			var want []api.AuthZENDecision
			for _, it := range items {
				one := strings.Replace(it.json(), "{", `{"subject":{"type":"agent","id":"`+singleAgent.ID+`"},`, 1)
				d := w.post(t, "/access/v1/evaluation", w.keys["app"], one).decision(t)
				want = append(want, d)
				if semantic == api.DenyOnFirstDeny && !d.Decision || semantic == api.PermitOnFirstPermit && d.Decision {
					break
				}
			}
			name := listName + "/" + semantic
			if len(got) != len(want) {
				t.Fatalf("%s: %d answers, single evaluations stop after %d", name, len(got), len(want))
			}
			stop := map[string]int{"allowed first/" + api.DenyOnFirstDeny: 33, "denied first/" + api.PermitOnFirstPermit: 41}
			if n, ok := stop[name]; ok && len(got) != n {
				t.Errorf("%s: stopped after %d items, want %d", name, len(got), n)
			}
			if semantic == api.ExecuteAll {
				codes := map[api.DecisionCode]int{}
				for _, d := range got {
					codes[d.Context.Code]++
				}
				if len(got) != len(items) || codes[api.Allowed] == 0 || codes[api.RateLimited] == 0 ||
					codes[api.NoPermission] == 0 || codes[api.ArgumentNotAllowed] == 0 {
					t.Errorf("%s: %d answers for %d items, codes %v: not the mix intended", name, len(got), len(items), codes)
				}
			}
			events := w.events(t, batchAgent.ID)
			if len(events) != len(got) {
				t.Errorf("%s: %d decisions audited for %d answers", name, len(events), len(got))
			}
			for i := range got {
				g, s := got[i].Context, want[i].Context
				if got[i].Decision != want[i].Decision || g.Code != s.Code || (g.RetryAfter == 0) != (s.RetryAfter == 0) ||
					grantOf(batchAgent, g.Grant) != grantOf(singleAgent, s.Grant) {
					t.Errorf("%s: item %d: batch %v %+v, single %v %+v", name, i, got[i].Decision, g, want[i].Decision, s)
				}
				if ev, ok := events[g.AuditID]; !ok || ev.Code != string(g.Code) || ev.Resource != items[i].resource {
					t.Errorf("%s: item %d: audit event %+v (found %v)", name, i, ev, ok)
				}
			}
		}
	}
}

// grantOf names a grant by its permission's resource pattern, the same for twin agents.
func grantOf(a *api.AgentWithToken, id string) string {
	for _, p := range a.Permissions {
		if p.ID == id {
			return p.Resource
		}
	}
	return id
}

// TestAuthZENEvaluationsEdges: without items an evaluations request is a single
// evaluation and answered as one; more than the limit is refused before anything is
// judged; an agent's token may not name another agent in an item.
func TestAuthZENEvaluationsEdges(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t, agent.Permission{Resource: "doc:*", Actions: []string{"read"}})
	other := w.agent(t, agent.Permission{Resource: "doc:*", Actions: []string{"read"}})
	subj := `"subject":{"type":"agent","id":"` + a.ID + `"}`
	for _, items := range []string{``, `,"evaluations":[]`, `,"evaluations":null`} {
		r := w.post(t, "/access/v1/evaluations", w.keys["app"], `{`+subj+`,"action":{"name":"read"},"resource":{"type":"doc","id":"1"}`+items+`}`)
		if d := r.decision(t); !d.Decision || strings.Contains(string(r.body), `"evaluations"`) {
			t.Fatalf("no items %q: %s", items, r.body)
		}
	}
	many := strings.Repeat(`{"resource":{"type":"doc","id":"1"}},`, 1001)
	r := w.post(t, "/access/v1/evaluations", w.keys["app"], `{`+subj+`,"action":{"name":"read"},"evaluations":[`+strings.TrimSuffix(many, ",")+`]}`)
	if p := r.problem(t); r.status != 400 || p.Field != "evaluations" {
		t.Fatalf("1001 items: %d %+v", r.status, p)
	}
	if n := len(w.events(t, a.ID)); n != 3 {
		t.Fatalf("%d decisions audited, want the 3 single ones", n)
	}
	batch := `{"action":{"name":"read"},"resource":{"type":"doc","id":"1"},"evaluations":[{` + subj +
		`},{"subject":{"type":"agent","id":"` + other.ID + `"}}]}`
	got := w.post(t, "/access/v1/evaluations", a.Token, batch).evaluations(t)
	if len(got) != 2 || !got[0].Decision || got[1].Decision || got[1].Context.Error == nil ||
		got[1].Context.Error.Status != 403 || got[1].Context.Error.Field != "evaluations[1].subject.id" {
		t.Fatalf("token naming another agent: %s", mustJSON(got))
	}
}
