package service_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/kavachos/kavach-go/api"
)

// TestCapabilitiesOpenAPISchemasMatchTheWire: the capability and AuthZEN search schemas list
// exactly the JSON members of the Go types that go over the wire.
func TestCapabilitiesOpenAPISchemasMatchTheWire(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	types := map[string]any{
		"Capabilities": api.Capabilities{}, "Capability": api.Capability{}, "CapabilityConstraints": api.CapabilityConstraints{},
		"AuthZENPage": api.AuthZENPage{}, "AuthZENSearchRequest": api.AuthZENSearchRequest{}, "AuthZENPageResult": api.AuthZENPageResult{},
		"AuthZENActionSearchResponse": api.AuthZENActionSearchResponse{}, "AuthZENResourceSearchResponse": api.AuthZENResourceSearchResponse{},
		"AuthZENSubjectSearchResponse": api.AuthZENSubjectSearchResponse{},
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
