package service

import (
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/api"
)

// A tenant's own Policy Decision Point (docs/authzen.md#tenants). AuthZEN 1.0 §9.2 puts a
// PDP's metadata at its identifier with /.well-known/authzen-configuration inserted after
// the host, and gives a multi-tenant PDP as the example. Kavach's base PDP answers for
// every tenant, each caller in its own; the PDP https://host/tenants/{tenant} answers only
// callers of that tenant, so that a PEP configured for one tenant cannot be judged in
// another whatever key it holds (the mix-up §9.1.1 names the identifier for).

// authzenTenantPrefix is the path of a tenant's PDP.
const authzenTenantPrefix = "/tenants/:tenant"

// tenantSlug is the syntax of a tenant id, as Tenants().Create enforces it.
var tenantSlug = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (s *Server) registerAuthZENTenantRoutes() {
	s.add(echo.GET, authzenConfigurationPath+authzenTenantPrefix, s.authzenConfiguration, echoRequestID, authzenTenantPath)
	for path, h := range map[string]echo.HandlerFunc{
		authzenEvaluationPath:     s.authzenEvaluation,
		authzenEvaluationsPath:    s.authzenEvaluations,
		authzenSearchActionPath:   s.authzenSearchAction,
		authzenSearchResourcePath: s.authzenSearchResource,
		authzenSearchSubjectPath:  s.authzenSearchSubject,
	} {
		s.add(echo.POST, authzenTenantPrefix+path, h, echoRequestID, authzenTenantPath)
	}
}

// authzenTenantPath refuses a tenant that cannot exist. Whether a well-formed one does is
// not looked up: the metadata needs no credential, and would otherwise tell anyone which
// tenants exist.
func authzenTenantPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !tenantSlug.MatchString(c.Param("tenant")) {
			return &api.Error{Code: api.CodeNotFound, Field: "tenant", Message: "no tenant has this id: tenant ids are 1 to 63 of a-z, 0-9, '-' and '_'"}
		}
		return next(c)
	}
}

// tenantActor is who an API key's actor may act as on tenant's PDP: itself if it belongs
// to the tenant. A root key belongs to no tenant, and a key of another tenant is not this
// PDP's caller; both are 403, whether the tenant exists or not.
func tenantActor(act api.Actor, tenant string) error {
	switch {
	case act.Role == api.RoleRoot:
		return api.Errorf(api.CodeForbidden, "a root key belongs to no tenant: ask the base PDP (/access/v1/…) or use a key of tenant %s", tenant)
	case act.TenantID != tenant:
		return api.Errorf(api.CodeForbidden, "this API key belongs to another tenant than this PDP's")
	}
	return nil
}

// tokenActor is the reach an agent's own token is judged with: everything on the base
// PDP, where the token alone decides the agent; a tenant's agents on a tenant's PDP, where
// the token of another tenant's agent is then not valid (401), as it is for an app key.
func tokenActor(tenant string) api.Actor {
	if tenant == "" {
		return api.Root
	}
	return api.Actor{Role: api.RoleApp, TenantID: tenant}
}
