package oidc

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/rs/cors"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// registrationResponse is the answer to a successful registration (RFC 7591 section 3.2.1):
// the metadata as registered, the client id and, for a confidential client, its secret,
// which is shown only here.
type registrationResponse struct {
	ClientMetadata
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
}

// registerHandler serves RFC 7591 dynamic client registration.
func (p *Provider) registerHandler() http.Handler {
	return cors.New(*corsOptions()).Handler(http.HandlerFunc(p.register))
}

func (p *Provider) register(w http.ResponseWriter, r *http.Request) {
	switch {
	case p.cfg.Registration == RegistrationClosed:
		writeOAuthJSON(w, http.StatusForbidden, map[string]string{"error": "access_denied",
			"error_description": "dynamic client registration is closed on this server"})
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request",
			"error_description": "registration takes POST"})
		return
	case p.cfg.Registration == RegistrationToken && !p.initialAccessToken(r):
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeOAuthJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token",
			"error_description": "registration needs an initial access token"})
		return
	}
	var meta ClientMetadata
	dec := json.NewDecoder(r.Body)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		p.registrationFailed(w, invalidMetadata("the body must be application/json"))
		return
	}
	if err := dec.Decode(&meta); err != nil {
		p.registrationFailed(w, invalidMetadata("the body is not a JSON client metadata object"))
		return
	}
	meta.ClientID = ""
	if err := meta.normalize(false); err != nil {
		p.registrationFailed(w, err)
		return
	}
	now := p.now()
	resp := registrationResponse{ClientMetadata: meta, ClientIDIssuedAt: now.Unix()}
	resp.ClientID = agent.NewID("client_")
	stored := &store.OAuthClient{ID: resp.ClientID, CreatedAt: now}
	if meta.TokenEndpointAuthMethod != authNone {
		resp.ClientSecret = randomSecret("kvs_")
		var never int64
		resp.ClientSecretExpiresAt = &never
		stored.SecretHash = agent.HashToken(resp.ClientSecret)
	}
	doc, err := json.Marshal(resp.ClientMetadata)
	if err == nil {
		stored.Metadata = string(doc)
		err = p.store.CreateOAuthClient(r.Context(), stored)
	}
	if err != nil {
		p.log.ErrorContext(r.Context(), "registering an OAuth client failed", "error", err)
		writeOAuthJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	p.log.InfoContext(r.Context(), "OAuth client registered", "client", resp.ClientID, "name", meta.ClientName,
		"auth", meta.TokenEndpointAuthMethod)
	writeOAuthJSON(w, http.StatusCreated, resp)
}

// initialAccessToken reports whether the request carries a configured initial access token.
func (p *Provider) initialAccessToken(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	match := 0
	for _, t := range p.cfg.InitialAccessTokens {
		match |= subtle.ConstantTimeCompare([]byte(t), []byte(token))
	}
	return match == 1
}

func (p *Provider) registrationFailed(w http.ResponseWriter, err error) {
	var re *registrationError
	if !errors.As(err, &re) {
		re = &registrationError{"invalid_client_metadata", err.Error()}
	}
	writeOAuthJSON(w, http.StatusBadRequest, map[string]string{"error": re.code, "error_description": re.description})
}

// writeOAuthJSON writes an OAuth JSON answer that no cache may keep.
func writeOAuthJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// corsOptions lets browser-based MCP clients call the token, registration and metadata
// endpoints from any origin. No cookies or credentials ride along: those endpoints take
// their credentials in the request itself.
func corsOptions() *cors.Options {
	return &cors.Options{
		AllowOriginFunc:  func(string) bool { return true },
		AllowedMethods:   []string{http.MethodGet, http.MethodHead, http.MethodPost},
		AllowedHeaders:   []string{"Accept", "Authorization", "Content-Type", "Mcp-Protocol-Version", "DPoP"},
		ExposedHeaders:   []string{"WWW-Authenticate", "Location", "DPoP-Nonce"},
		AllowCredentials: false,
	}
}
