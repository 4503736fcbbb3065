package mcpauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// allowedAlgorithms are the asymmetric signature algorithms a token may use. "none" and the
// HMAC algorithms are never accepted: a shared secret would let anyone holding it mint
// tokens, and go-jose refuses anything not listed here before a key is even looked at.
var allowedAlgorithms = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// tokenClaims is a Kavach access token's payload.
type tokenClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	Expiry    *float64 `json:"exp"`
	NotBefore *float64 `json:"nbf"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
	AgentID   string   `json:"agent_id"`
	TenantID  string   `json:"tenant_id"`
	Cnf       *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// audience is "aud", a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// verify checks a token and returns its claims.
func (g *Guard) verify(ctx context.Context, raw string) (*Claims, error) {
	jws, err := jose.ParseSigned(raw, allowedAlgorithms)
	if err != nil {
		return nil, errors.New("the token is not a JWT signed with an accepted algorithm")
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("the token must carry exactly one signature")
	}
	h := jws.Signatures[0].Header
	key, err := g.keys.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	if key.Algorithm != "" && key.Algorithm != h.Algorithm {
		return nil, errors.New("the token's algorithm does not match its key")
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, errors.New("the token's signature is not valid")
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errors.New("the token's claims are malformed")
	}
	now := g.cfg.Now()
	switch {
	case c.Issuer != g.cfg.Issuer:
		return nil, errors.New("the token was issued by another authorization server")
	case !slices.ContainsFunc(c.Audience, g.isResource):
		return nil, errors.New("the token was issued for another resource")
	case c.Expiry == nil:
		return nil, errors.New("the token has no expiry")
	case !now.Before(unix(*c.Expiry).Add(g.cfg.Leeway)):
		return nil, errors.New("the token has expired")
	case c.NotBefore != nil && now.Add(g.cfg.Leeway).Before(unix(*c.NotBefore)):
		return nil, errors.New("the token is not valid yet")
	case c.AgentID == "":
		return nil, errors.New("the token names no Kavach agent")
	}
	out := &Claims{
		Subject: c.Subject, ClientID: c.ClientID, AgentID: c.AgentID, TenantID: c.TenantID,
		Scopes: strings.Fields(c.Scope), Audience: c.Audience, Expiry: unix(*c.Expiry), ID: c.ID,
	}
	if c.Cnf != nil {
		if c.Cnf.JKT == "" {
			return nil, errors.New("the token's cnf names no DPoP key (jkt)")
		}
		out.JKT = c.Cnf.JKT
	}
	return out, nil
}

// isResource compares an audience with this server's resource, scheme and host ignoring
// case.
func (g *Guard) isResource(aud string) bool {
	u, err := url.Parse(aud)
	if err != nil {
		return false
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	return u.String() == g.cfg.Resource
}

func unix(f float64) time.Time { return time.Unix(int64(f), 0) }

// keysUnavailable says the keys could not be fetched: a fault on the way to the
// authorization server, not a bad token.
type keysUnavailable struct{ err error }

func (e *keysUnavailable) Error() string { return "fetching the signing keys: " + e.err.Error() }
func (e *keysUnavailable) Unwrap() error { return e.err }

// keySet caches the authorization server's JWKS. An unknown key id triggers a refetch (the
// server publishes new keys ahead of using them), at most once per refetchInterval so that
// garbage tokens cannot make it hammer the server.
type keySet struct {
	issuer, url string
	http        *http.Client
	now         func() time.Time
	mu          sync.Mutex
	keys        map[string]jose.JSONWebKey
	fetched     time.Time
	attempted   time.Time
}

const (
	refetchInterval = 10 * time.Second
	keysMaxAge      = time.Hour
	maxDocBytes     = 1 << 20
)

func (s *keySet) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	k, ok := s.keys[kid]
	stale := now.Sub(s.fetched) > keysMaxAge
	if (!ok || stale) && now.Sub(s.attempted) >= refetchInterval {
		s.attempted = now
		if err := s.refresh(ctx); err != nil {
			if s.keys == nil {
				return nil, &keysUnavailable{err}
			}
		} else {
			s.fetched = now
		}
		k, ok = s.keys[kid]
	}
	if !ok {
		return nil, errors.New("the token was signed with an unknown key")
	}
	return &k, nil
}

// refresh fetches the JWKS, discovering its URL from the issuer's metadata the first time.
func (s *keySet) refresh(ctx context.Context) error {
	if s.url == "" {
		u, err := s.discover(ctx)
		if err != nil {
			return err
		}
		s.url = u
	}
	var set jose.JSONWebKeySet
	if err := s.getJSON(ctx, s.url, &set); err != nil {
		return err
	}
	keys := make(map[string]jose.JSONWebKey, len(set.Keys))
	for _, k := range set.Keys {
		if k.Valid() && k.IsPublic() && (k.Use == "" || k.Use == "sig") {
			keys[k.KeyID] = k
		}
	}
	s.keys = keys
	return nil
}

// discover reads jwks_uri from the issuer's RFC 8414 metadata (or its OpenID configuration),
// whose issuer must be exactly the configured one.
func (s *keySet) discover(ctx context.Context) (string, error) {
	iss, err := url.Parse(s.issuer)
	if err != nil {
		return "", err
	}
	path := strings.TrimSuffix(iss.EscapedPath(), "/")
	origin := iss.Scheme + "://" + iss.Host
	var last error
	for _, u := range []string{
		origin + "/.well-known/oauth-authorization-server" + path,
		origin + "/.well-known/openid-configuration" + path,
		origin + path + "/.well-known/openid-configuration",
	} {
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if last = s.getJSON(ctx, u, &meta); last != nil {
			continue
		}
		if meta.Issuer != s.issuer || meta.JWKSURI == "" {
			return "", fmt.Errorf("the metadata at %s names issuer %q, want %q", u, meta.Issuer, s.issuer)
		}
		return meta.JWKSURI, nil
	}
	return "", last
}

func (s *keySet) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", u, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
