package service

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/telemetry"
)

// bearer returns the credential of an "Authorization: Bearer …" header.
func bearer(r *http.Request) (string, bool) {
	scheme, cred, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}

// requireAPIKey authenticates the caller by its API key and runs the handler as the key's
// actor. Every facade call then checks what that actor may see and do.
func (s *Server) requireAPIKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key, ok := bearer(c.Request())
		switch {
		case !ok:
			return unauthenticated("an API key is required: send Authorization: Bearer kva_…")
		case strings.HasPrefix(key, agent.TokenPrefix):
			return unauthenticated("this route takes an API key (kva_…), not an agent token; an agent authorizes itself at POST /v1/authorize/token")
		}
		r := c.Request()
		ctx, span := telemetry.Start(r.Context(), "kavach.authenticate")
		act, err := s.k.AuthenticateAPIKey(ctx, key)
		if span.IsRecording() {
			span.SetAttributes(attribute.String("kavach.credential", "api_key"), attribute.Bool("kavach.authenticated", err == nil))
			if err == nil {
				span.SetAttributes(attribute.String("kavach.caller.role", string(act.Role)))
			}
		}
		span.End()
		if err != nil {
			return err
		}
		c.SetRequest(r.WithContext(api.WithActor(r.Context(), act)))
		return next(c)
	}
}

// requireAgentToken takes the agent's own "kv_" token as the credential. Whether the token
// is valid is the decision's business (TOKEN_INVALID, audited); only a missing token, or an
// API key sent by mistake, fails the request. The facade resolves the token in every tenant,
// so the call runs as root: the token alone decides which agent is judged.
func (s *Server) requireAgentToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := bearer(c.Request())
		switch {
		case !ok:
			return unauthenticated("the agent's token is required: send Authorization: Bearer kv_…")
		case strings.HasPrefix(token, agent.APIKeyPrefix):
			return unauthenticated("this route takes the agent's own token (kv_…), not an API key; apps authorize agents at POST /v1/authorize")
		}
		r := c.Request()
		c.SetRequest(r.WithContext(api.WithActor(r.Context(), api.Root)))
		return next(c)
	}
}
