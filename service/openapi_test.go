package service_test

import (
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

type openAPI struct {
	OpenAPI    string                               `yaml:"openapi"`
	Paths      map[string]map[string]operation      `yaml:"paths"`
	Components struct{ Schemas map[string]*schema } `yaml:"components"`
}

type operation struct {
	Security  *[]map[string][]string `yaml:"security"`
	Responses map[string]any         `yaml:"responses"`
}

type schema struct {
	Ref        string             `yaml:"$ref"`
	Properties map[string]*schema `yaml:"properties"`
	AllOf      []*schema          `yaml:"allOf"`
}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	b, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	return &doc
}

// TestOpenAPIDocumentsEveryRoute: every registered route is documented and every documented
// route is registered, and each documents its answers (401 where a credential is needed).
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	registered := map[string]bool{}
	for _, r := range srv.Service.Routes() {
		registered[r.Method+" "+r.Path] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			if !registered[key] {
				t.Errorf("documented but not registered: %s", key)
			}
			public := op.Security != nil && len(*op.Security) == 0
			if _, ok := op.Responses["401"]; !public && !ok {
				t.Errorf("%s needs a credential but documents no 401", key)
			}
			ok := false
			for status := range op.Responses {
				ok = ok || strings.HasPrefix(status, "2")
			}
			if !ok {
				t.Errorf("%s documents no success", key)
			}
		}
	}
	for key := range registered {
		if !documented[key] {
			t.Errorf("registered but not documented: %s", key)
		}
	}
}

// TestOpenAPISchemasMatchTheWire: each schema lists exactly the JSON fields of the Go type
// that goes over the wire, so the document cannot drift from the code.
func TestOpenAPISchemasMatchTheWire(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	types := map[string]any{
		"Problem": api.Problem{}, "CreateTenantRequest": api.CreateTenantRequest{}, "Tenant": agent.Tenant{},
		"TenantList": api.TenantList{}, "CreateAPIKeyRequest": api.CreateAPIKeyRequest{}, "APIKey": agent.APIKey{},
		"APIKeyWithSecret": api.APIKeyWithSecret{}, "APIKeyList": api.APIKeyList{}, "Permission": agent.Permission{},
		"Constraints": agent.Constraints{}, "RateLimit": agent.RateLimit{}, "TimeWindow": agent.TimeWindow{},
		"Approval": agent.Approval{}, "CreateAgentRequest": api.CreateAgentRequest{}, "UpdateAgentRequest": api.UpdateAgentRequest{},
		"RotateRequest": api.RotateRequest{}, "Agent": agent.Agent{}, "AgentWithToken": api.AgentWithToken{},
		"AgentList": api.AgentList{}, "RotateResult": api.RotateResult{}, "ValidateTokenRequest": api.ValidateTokenRequest{},
		"AuthorizeRequest": api.AuthorizeRequest{}, "AuthorizeAgentRequest": api.AuthorizeAgentRequest{},
		"CallContext": api.CallContext{}, "Decision": api.Decision{}, "DelegateRequest": api.DelegateRequest{},
		"Delegation": agent.Delegation{}, "DelegationList": api.DelegationList{}, "ApprovalRequest": agent.ApprovalRequest{},
		"ApprovalList": api.ApprovalList{}, "ApproveRequest": api.ApproveRequest{}, "DenyRequest": api.DenyRequest{},
		"AuditEvent": agent.AuditEvent{}, "AuditPage": api.AuditPage{}, "AuditReport": api.AuditReport{},
		"AuditProgress": api.AuditProgress{}, "AuditVerifyLine": api.AuditVerifyLine{},
		"PolicyStatus": api.PolicyStatus{}, "ShadowStatus": api.ShadowStatus{}, "ShadowCount": api.ShadowCount{},
		"ShadowDisagreement": api.ShadowDisagreement{}, "ReplayReport": api.ReplayReport{}, "ReplayTransition": api.ReplayTransition{},
		"ReplayGroup": api.ReplayGroup{}, "ReplayUnreplayable": api.ReplayUnreplayable{}, "ReplayRevisionCount": api.ReplayRevisionCount{},
		"Capabilities": api.Capabilities{}, "Capability": api.Capability{}, "CapabilityConstraints": api.CapabilityConstraints{},
		// AuthZEN 1.0
		"AuthZENSubject": api.AuthZENSubject{}, "AuthZENResource": api.AuthZENResource{},
		"AuthZENAction": api.AuthZENAction{}, "AuthZENContext": api.AuthZENContext{},
		"AuthZENOptions": api.AuthZENOptions{}, "AuthZENEvaluation": api.AuthZENEvaluation{},
		"AuthZENEvaluationRequest": api.AuthZENEvaluationRequest{}, "AuthZENEvaluationsRequest": api.AuthZENEvaluationsRequest{},
		"AuthZENDecision": api.AuthZENDecision{}, "AuthZENDecisionContext": api.AuthZENDecisionContext{},
		"AuthZENItemError": api.AuthZENItemError{}, "AuthZENEvaluationsResponse": api.AuthZENEvaluationsResponse{},
		"AuthZENConfiguration": api.AuthZENConfiguration{},
		"AuthZENPage":          api.AuthZENPage{}, "AuthZENSearchRequest": api.AuthZENSearchRequest{}, "AuthZENPageResult": api.AuthZENPageResult{},
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

// properties lists a schema's property names, following $ref and allOf.
func properties(t *testing.T, doc *openAPI, s *schema) []string {
	t.Helper()
	if s.Ref != "" {
		target, ok := doc.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
		if !ok {
			t.Fatalf("dangling $ref %s", s.Ref)
		}
		return properties(t, doc, target)
	}
	var out []string
	for name := range s.Properties {
		out = append(out, name)
	}
	for _, part := range s.AllOf {
		out = append(out, properties(t, doc, part)...)
	}
	sort.Strings(out)
	return out
}

// jsonFields lists the JSON names encoding/json uses for a struct, embedded fields included.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || (!f.IsExported() && !f.Anonymous):
			continue
		case f.Anonymous && name == "":
			out = append(out, jsonFields(f.Type)...)
			continue
		case name == "":
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
