package kavach

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/store"
)

type apiKeyService struct{ k *Kavach }

// APIKeys returns the API key API.
func (k *Kavach) APIKeys() api.APIKeys { return &apiKeyService{k: k} }

func (s *apiKeyService) Create(ctx context.Context, req api.CreateAPIKeyRequest) (*api.APIKeyWithSecret, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.Role != api.RoleRoot && act.Role != api.RoleAdmin {
		return nil, api.Errorf(api.CodeForbidden, "a %s caller may not create API keys", act.Role)
	}
	if !req.Role.Valid() {
		return nil, invalidField("role", "%q is not root, admin, app or user", req.Role)
	}
	tenant := ""
	if req.Role == api.RoleRoot {
		if act.Role != api.RoleRoot {
			return nil, api.Errorf(api.CodeForbidden, "only a root caller may create root keys")
		}
		if req.TenantID != "" {
			return nil, invalidField("tenantId", "a root key belongs to no tenant")
		}
	} else if tenant, err = tenantFor(act, req.TenantID); err != nil {
		return nil, err
	}
	if req.Role == api.RoleUser {
		if err := agent.ValidateIdentifier("ownerId", req.OwnerID); err != nil {
			return nil, apiError(err)
		}
	} else if req.OwnerID != "" {
		return nil, invalidField("ownerId", "only a user key acts as an owner")
	}
	if req.Name != "" {
		if err := agent.ValidateName("name", req.Name); err != nil {
			return nil, apiError(err)
		}
	}
	secret := agent.MintAPIKey()
	key := &agent.APIKey{
		ID: agent.NewID(agent.PrefixAPIKeyID), TenantID: tenant, OwnerID: req.OwnerID, Role: string(req.Role),
		Name: req.Name, Prefix: agent.DisplayPrefix(secret), CreatedBy: actorName(act), CreatedAt: s.k.clock(),
	}
	e := s.k.manage(act, "apikey.create", ledgerTenant(key), "", key.OwnerID, key.ID,
		map[string]any{"role": key.Role, "name": key.Name, "prefix": key.Prefix})
	if err := s.k.store.CreateAPIKey(store.WithAudit(ctx, e), key, agent.HashToken(secret)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalidField("tenantId", "tenant %q does not exist", tenant)
		}
		return nil, apiError(err)
	}
	s.k.managed(e)
	return &api.APIKeyWithSecret{APIKey: *key, Key: secret}, nil
}

func (s *apiKeyService) List(ctx context.Context, req api.ListAPIKeysRequest) (*api.APIKeyList, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	f := store.APIKeyFilter{TenantID: req.TenantID, OwnerID: req.OwnerID, Limit: api.MaxLimit}
	switch act.Role {
	case api.RoleApp:
		return nil, api.Errorf(api.CodeForbidden, "an app caller may not list API keys")
	case api.RoleRoot:
		f.AllTenants = req.TenantID == ""
	case api.RoleAdmin:
		if f.TenantID, err = tenantFor(act, req.TenantID); err != nil {
			return nil, err
		}
	case api.RoleUser:
		if req.OwnerID != "" && req.OwnerID != act.OwnerID {
			return nil, api.Errorf(api.CodeForbidden, "a user may list only its own API keys")
		}
		if f.TenantID, err = tenantFor(act, req.TenantID); err != nil {
			return nil, err
		}
		f.OwnerID = act.OwnerID
	}
	list, err := s.k.store.ListAPIKeys(ctx, f)
	if err != nil {
		return nil, apiError(err)
	}
	out := &api.APIKeyList{Keys: make([]agent.APIKey, len(list))}
	for i, k := range list {
		out.Keys[i] = *k
	}
	return out, nil
}

// Revoke disables a key. Root revokes any key, an admin those of its tenant, a user its own;
// keys outside the caller's reach are reported as not found.
func (s *apiKeyService) Revoke(ctx context.Context, id string) (*agent.APIKey, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.Role == api.RoleApp {
		return nil, api.Errorf(api.CodeForbidden, "an app caller may not revoke API keys")
	}
	notFound := api.Errorf(api.CodeNotFound, "API key %s not found", id)
	key, err := s.k.store.GetAPIKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !canSeeKey(act, key)) {
		return nil, notFound
	}
	if err != nil {
		return nil, apiError(err)
	}
	e := s.k.manage(act, "apikey.revoke", ledgerTenant(key), "", key.OwnerID, key.ID, map[string]any{"role": key.Role})
	key, err = s.k.store.RevokeAPIKey(store.WithAudit(ctx, e), id, s.k.clock())
	s.k.keys.forget(id) // even after an error: the revocation may have committed
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, apiError(err)
	}
	s.k.managed(e)
	return key, nil
}

// ledgerTenant is the chain a key's management events go to: its tenant, or the default
// tenant for root keys, which belong to none.
func ledgerTenant(k *agent.APIKey) string {
	if k.TenantID == "" {
		return agent.DefaultTenant
	}
	return k.TenantID
}

func canSeeKey(a api.Actor, k *agent.APIKey) bool {
	switch a.Role {
	case api.RoleRoot:
		return true
	case api.RoleAdmin:
		return k.TenantID == a.TenantID
	case api.RoleUser:
		return k.TenantID == a.TenantID && k.Role == string(api.RoleUser) && k.OwnerID == a.OwnerID
	}
	return false
}

// errBadAPIKey is the one answer for a malformed, unknown or revoked key, so that keys
// cannot be probed.
var errBadAPIKey = &api.Error{Code: api.CodeUnauthenticated, Message: "the API key is not valid (malformed, unknown or revoked)"}

// AuthenticateAPIKey returns the actor a presented API key acts as. Keys it has resolved
// are kept in memory until they change (here, or on another instance sharing the
// database), so that most requests do not query the database.
func (k *Kavach) AuthenticateAPIKey(ctx context.Context, secret string) (api.Actor, error) {
	if !agent.WellFormedAPIKey(secret) {
		return api.Actor{}, errBadAPIKey
	}
	hk := keyOf(secret)
	if h, ok := k.keys.get(hk, time.Time{}); ok {
		return h.actor, nil
	}
	gen := k.keys.generation()
	hash := hk.hash()
	key, err := k.store.APIKeyByHash(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.Actor{}, errBadAPIKey
	case err != nil:
		return api.Actor{}, apiError(err)
	case key.Revoked() || !agent.VerifyToken(secret, hash):
		return api.Actor{}, errBadAPIKey
	}
	act := api.Actor{Role: api.Role(key.Role), TenantID: key.TenantID, OwnerID: key.OwnerID}
	k.keys.put(gen, hk, keyHolder{id: key.ID, actor: act}, time.Time{})
	return act, nil
}

// BootstrapAPIKey lets a fresh database be administered over HTTP: if it holds no API key
// yet, revoked ones included, it stores a root key and returns its secret with created
// set. The key is supplied (a well-formed "kva_" key, for scripts and CI) or, when supplied
// is empty, minted. A database that already has keys is left alone.
func (k *Kavach) BootstrapAPIKey(ctx context.Context, supplied string) (secret string, created bool, err error) {
	secret = supplied
	if secret == "" {
		secret = agent.MintAPIKey()
	} else if !agent.WellFormedAPIKey(secret) {
		return "", false, fmt.Errorf("bootstrap admin key: not a well-formed API key (want %s followed by 49 characters, as minted by Kavach)", agent.APIKeyPrefix)
	}
	key := &agent.APIKey{
		ID: agent.NewID(agent.PrefixAPIKeyID), Role: string(api.RoleRoot), Name: "bootstrap",
		Prefix: agent.DisplayPrefix(secret), CreatedBy: "bootstrap", CreatedAt: k.clock(),
	}
	created, err = k.store.BootstrapAPIKey(ctx, key, agent.HashToken(secret))
	if err != nil || !created {
		return "", false, err
	}
	return secret, true, nil
}
