package service_test

import (
	"net/http"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// TestAuthZENMemberNamesAreExact: JSON member names are case-sensitive and AuthZEN
// ignores unknown members, so "Subject" beside "subject" is ignored (the request is
// judged for the agent a case-sensitive reader sees), a body spelt in capitals has no
// subject, and a name given twice in one object is refused, naming it: no two readers of
// one request can disagree about whom it asks about.
func TestAuthZENMemberNamesAreExact(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	allowed := w.agent(t, agent.Permission{Resource: "document:1", Actions: []string{"read"}})
	denied := w.agent(t)
	key := w.keys["alice"]
	subject := func(id string) string { return `{"type":"agent","id":"` + id + `"}` }
	rest := `"resource":{"type":"document","id":"1"},"action":{"name":"read"}`
	for _, c := range []struct {
		name, body string
		code       api.DecisionCode
	}{
		{"a capitalised name after the real one", `{"subject":` + subject(denied.ID) + `,"Subject":` + subject(allowed.ID) + `,` + rest + `}`, api.NoPermission},
		{"a capitalised name before the real one", `{"Subject":` + subject(allowed.ID) + `,"subject":` + subject(denied.ID) + `,` + rest + `}`, api.NoPermission},
		{"an escaped capital", `{"subject":` + subject(denied.ID) + `,"\u0053ubject":` + subject(allowed.ID) + `,` + rest + `}`, api.NoPermission},
		{"a long s folding to s", `{"subject":` + subject(denied.ID) + `,"\u017fubject":` + subject(allowed.ID) + `,` + rest + `}`, api.NoPermission},
		{"a long s, sent as UTF-8", `{"subject":` + subject(denied.ID) + `,"ſubject":` + subject(allowed.ID) + `,` + rest + `}`, api.NoPermission},
		{"a nested capitalised id", `{"subject":{"type":"agent","id":"` + denied.ID + `","ID":"` + allowed.ID + `"},` + rest + `}`, api.NoPermission},
		{"an escape of the exact name", `{"\u0073ubject":` + subject(allowed.ID) + `,` + rest + `}`, api.Allowed},
	} {
		d := w.post(t, "/access/v1/evaluation", key, c.body).decision(t)
		if d.Context == nil || d.Context.Code != c.code {
			t.Errorf("%s: %+v, want %s", c.name, d.Context, c.code)
		}
	}
	for _, c := range []struct{ name, path, body, field string }{
		{"all in capitals", "/access/v1/evaluation", `{"SUBJECT":` + subject(allowed.ID) + `,"RESOURCE":{"TYPE":"document","ID":"1"},"ACTION":{"NAME":"read"}}`, "subject"},
		{"subject twice", "/access/v1/evaluation", `{"subject":` + subject(denied.ID) + `,"subject":` + subject(allowed.ID) + `,` + rest + `}`, "subject"},
		{"an id twice", "/access/v1/evaluation", `{"subject":{"type":"agent","id":"` + denied.ID + `","id":"` + allowed.ID + `"},` + rest + `}`, "subject.id"},
		{"an argument twice", "/access/v1/evaluation", `{"subject":` + subject(allowed.ID) + `,"resource":{"type":"document","id":"1"},"action":{"name":"read","properties":{"arguments":{"a":1,"a":2}}}}`, "action.properties.arguments.a"},
		{"a batch item's resource twice", "/access/v1/evaluations", `{"subject":` + subject(allowed.ID) + `,"action":{"name":"read"},"evaluations":[{},{"resource":{"type":"document","id":"2"},"resource":{"type":"document","id":"1"}}]}`, "evaluations[1].resource"},
		{"a search's page twice", "/access/v1/search/resource", `{"subject":` + subject(allowed.ID) + `,"action":{"name":"read"},"resource":{"type":"document"},"page":{"limit":1},"page":{"limit":2}}`, "page"},
	} {
		r := w.post(t, c.path, key, c.body)
		if p := r.problem(t); r.status != http.StatusBadRequest || p.Field != c.field {
			t.Errorf("%s: %d field %q, want 400 %q: %s", c.name, r.status, p.Field, c.field, r.body)
		}
	}
}
