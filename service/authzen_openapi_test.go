package service_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/kavachos/kavach-go/api"
)

// TestAuthZENOpenAPISchemasMatchTheWire: the AuthZEN schemas list exactly the JSON members
// of the Go types that go over the wire.
func TestAuthZENOpenAPISchemasMatchTheWire(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	types := map[string]any{
		"AuthZENSubject": api.AuthZENSubject{}, "AuthZENResource": api.AuthZENResource{},
		"AuthZENAction": api.AuthZENAction{}, "AuthZENContext": api.AuthZENContext{},
		"AuthZENOptions": api.AuthZENOptions{}, "AuthZENEvaluation": api.AuthZENEvaluation{},
		"AuthZENEvaluationRequest": api.AuthZENEvaluationRequest{}, "AuthZENEvaluationsRequest": api.AuthZENEvaluationsRequest{},
		"AuthZENDecision": api.AuthZENDecision{}, "AuthZENDecisionContext": api.AuthZENDecisionContext{},
		"AuthZENItemError": api.AuthZENItemError{}, "AuthZENEvaluationsResponse": api.AuthZENEvaluationsResponse{},
		"AuthZENConfiguration": api.AuthZENConfiguration{},
	}
	for name, v := range types {
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s is missing", name)
			continue
		}
		got, want := properties(t, doc, s), jsonFields(reflect.TypeOf(v))
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has %v; the wire has %v", name, got, want)
		}
	}
}
