package storetest

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

// testOAuth runs the OAuth store cases, each on the same fresh store (their ids never
// collide).
func testOAuth(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"ClientRoundTrip", testOAuthClient},
		{"AuthRequestRoundTripAndUpdate", testOAuthAuthRequest},
		{"CodeIsSingleUse", testOAuthCodeSingleUse},
		{"ConcurrentCodeUseAdmitsOne", testOAuthCodeConcurrent},
		{"ExpiredCodeIsNotFound", testOAuthCodeExpired},
		{"TokenRoundTrip", testOAuthToken},
		{"RefreshRotation", testOAuthRotation},
		{"ConcurrentRotationAdmitsOne", testOAuthRotationConcurrent},
		{"RevokeTokenAndGrant", testOAuthRevoke},
		{"Consent", testOAuthConsent},
		{"SigningKeys", testOAuthSigningKeys},
		{"Prune", testOAuthPrune},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, s) })
	}
}

func newAuthRequest(expires time.Duration) *store.OAuthAuthRequest {
	ts := now()
	return &store.OAuthAuthRequest{
		ID: agent.NewID("ar_"), TenantID: agent.DefaultTenant, ClientID: "client_1",
		RedirectURI: "http://127.0.0.1:3000/callback", State: "xyz", Scopes: []string{"mcp", "offline_access"},
		ResponseType: "code", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256",
		Resources: []string{"https://mcp.example.com/mcp"}, AuthTime: ts, CreatedAt: ts, ExpiresAt: ts.Add(expires),
	}
}

func mustAuthRequest(t *testing.T, s store.Store, r *store.OAuthAuthRequest) {
	t.Helper()
	if err := s.CreateOAuthAuthRequest(ctx, r); err != nil {
		t.Fatalf("CreateOAuthAuthRequest: %v", err)
	}
}

// withCode gives a stored request a code.
func withCode(t *testing.T, s store.Store, r *store.OAuthAuthRequest) string {
	t.Helper()
	code := agent.HashToken(agent.MintToken())
	if _, err := s.UpdateOAuthAuthRequest(ctx, r.ID, func(r *store.OAuthAuthRequest) error {
		r.CodeHash, r.Done, r.Subject = code, true, "user_1"
		return nil
	}); err != nil {
		t.Fatalf("UpdateOAuthAuthRequest: %v", err)
	}
	return code
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err1 := store.EncodeOAuthDoc(got)
	w, err2 := store.EncodeOAuthDoc(want)
	if err1 != nil || err2 != nil || g != w {
		t.Fatalf("%s differs:\n got  %s\n want %s", what, g, w)
	}
}

func testOAuthClient(t *testing.T, s store.Store) {
	for _, c := range []*store.OAuthClient{
		{ID: agent.NewID("cl_"), SecretHash: agent.HashToken("secret"), Metadata: `{"client_name":"confidential"}`, CreatedAt: now()},
		{ID: agent.NewID("cl_"), Metadata: `{"client_name":"public"}`, CreatedAt: now()},
	} {
		if err := s.CreateOAuthClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetOAuthClient(ctx, c.ID)
		if err != nil || got.SecretHash != c.SecretHash || got.Metadata != c.Metadata || !got.CreatedAt.Equal(c.CreatedAt) {
			t.Fatalf("GetOAuthClient: %+v, %v; want %+v", got, err, c)
		}
		if err := s.CreateOAuthClient(ctx, c); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate client: want ErrConflict, got %v", err)
		}
	}
	if _, err := s.GetOAuthClient(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown client: want ErrNotFound, got %v", err)
	}
}

func testOAuthAuthRequest(t *testing.T, s store.Store) {
	r := newAuthRequest(10 * time.Minute)
	mustAuthRequest(t, s, r)
	got, err := s.GetOAuthAuthRequest(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "auth request", got, r)
	failure := errors.New("stop")
	if _, err := s.UpdateOAuthAuthRequest(ctx, r.ID, func(r *store.OAuthAuthRequest) error {
		r.Subject = "changed"
		return failure
	}); !errors.Is(err, failure) {
		t.Fatalf("a failing update returns its error, got %v", err)
	}
	code := withCode(t, s, r)
	byCode, err := s.OAuthAuthRequestByCode(ctx, code)
	if err != nil || byCode.ID != r.ID || byCode.Subject != "user_1" || !byCode.Done {
		t.Fatalf("OAuthAuthRequestByCode: %+v, %v", byCode, err)
	}
	other := newAuthRequest(time.Minute)
	mustAuthRequest(t, s, other)
	if _, err := s.UpdateOAuthAuthRequest(ctx, other.ID, func(o *store.OAuthAuthRequest) error {
		o.CodeHash = code
		return nil
	}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a code held by another request: want ErrConflict, got %v", err)
	}
	if err := s.DeleteOAuthAuthRequest(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{r.ID, "missing"} {
		if _, err := s.GetOAuthAuthRequest(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetOAuthAuthRequest(%s): want ErrNotFound, got %v", id, err)
		}
	}
}

func testOAuthCodeSingleUse(t *testing.T, s store.Store) {
	r := newAuthRequest(time.Minute)
	mustAuthRequest(t, s, r)
	code := withCode(t, s, r)
	used, err := s.UseOAuthCode(ctx, code, now())
	if err != nil || used.ID != r.ID || used.CodeUsedAt == nil {
		t.Fatalf("first use: %+v, %v", used, err)
	}
	if _, err := s.UseOAuthCode(ctx, code, now()); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second use: want ErrConflict, got %v", err)
	}
	if _, err := s.UseOAuthCode(ctx, "unknown", now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown code: want ErrNotFound, got %v", err)
	}
}

func testOAuthCodeConcurrent(t *testing.T, s store.Store) {
	r := newAuthRequest(time.Minute)
	mustAuthRequest(t, s, r)
	code := withCode(t, s, r)
	const n = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, used int
	)
	for range n {
		wg.Go(func() {
			_, err := s.UseOAuthCode(ctx, code, now())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrConflict):
				used++
			default:
				t.Errorf("UseOAuthCode: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || used != n-1 {
		t.Fatalf("%d uses succeeded and %d were refused as used; want 1 and %d", ok, used, n-1)
	}
}

func testOAuthCodeExpired(t *testing.T, s store.Store) {
	r := newAuthRequest(time.Minute)
	mustAuthRequest(t, s, r)
	code := withCode(t, s, r)
	if _, err := s.UseOAuthCode(ctx, code, now().Add(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired code: want ErrNotFound, got %v", err)
	}
}

func newToken(kind, grant string, expires time.Duration) *store.OAuthToken {
	ts := now()
	return &store.OAuthToken{
		ID: agent.NewID("tok_"), Kind: kind, GrantID: grant, ClientID: "client_1", TenantID: agent.DefaultTenant,
		Subject: "user_1", AgentID: "agt_1", Scopes: []string{"mcp"}, Audience: []string{"https://mcp.example.com/mcp"},
		AuthTime: ts, AMR: []string{"pwd"}, CreatedAt: ts, ExpiresAt: ts.Add(expires),
	}
}

func testOAuthToken(t *testing.T, s store.Store) {
	access, refresh := newToken(store.OAuthAccessToken, "g1", time.Minute), newToken(store.OAuthRefreshToken, "g1", time.Hour)
	hash := agent.HashToken(agent.MintToken())
	if err := s.CreateOAuthToken(ctx, access, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOAuthToken(ctx, refresh, hash); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetOAuthToken(ctx, access.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "access token", got, access)
	byHash, err := s.OAuthTokenByHash(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "refresh token", byHash, refresh)
	if !byHash.Live(now()) || byHash.Live(refresh.ExpiresAt) {
		t.Fatal("a fresh refresh token is live until it expires")
	}
	if err := s.CreateOAuthToken(ctx, newToken(store.OAuthRefreshToken, "g1", time.Hour), hash); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate refresh hash: want ErrConflict, got %v", err)
	}
	if _, err := s.OAuthTokenByHash(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash: want ErrNotFound, got %v", err)
	}
}

func testOAuthRotation(t *testing.T, s store.Store) {
	old := newToken(store.OAuthRefreshToken, agent.NewID("g_"), time.Hour)
	oldHash := agent.HashToken(agent.MintToken())
	if err := s.CreateOAuthToken(ctx, old, oldHash); err != nil {
		t.Fatal(err)
	}
	next, nextHash := newToken(store.OAuthRefreshToken, old.GrantID, time.Hour), agent.HashToken(agent.MintToken())
	if err := s.RotateRefreshToken(ctx, old.ID, next, nextHash, now()); err != nil {
		t.Fatal(err)
	}
	retired, err := s.OAuthTokenByHash(ctx, oldHash)
	if err != nil || retired.RotatedAt == nil || retired.Live(now()) {
		t.Fatalf("the old token is retired: %+v, %v", retired, err)
	}
	if got, err := s.OAuthTokenByHash(ctx, nextHash); err != nil || got.ID != next.ID || !got.Live(now()) {
		t.Fatalf("the new token is live: %+v, %v", got, err)
	}
	again := newToken(store.OAuthRefreshToken, old.GrantID, time.Hour)
	if err := s.RotateRefreshToken(ctx, old.ID, again, agent.HashToken(agent.MintToken()), now()); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rotating a retired token: want ErrConflict, got %v", err)
	}
	if _, err := s.GetOAuthToken(ctx, again.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused rotation writes nothing, got %v", err)
	}
	if err := s.RotateRefreshToken(ctx, next.ID, again, agent.HashToken(agent.MintToken()), next.ExpiresAt); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rotating an expired token: want ErrConflict, got %v", err)
	}
}

func testOAuthRotationConcurrent(t *testing.T, s store.Store) {
	old := newToken(store.OAuthRefreshToken, agent.NewID("g_"), time.Hour)
	if err := s.CreateOAuthToken(ctx, old, agent.HashToken(agent.MintToken())); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for range n {
		wg.Go(func() {
			next := newToken(store.OAuthRefreshToken, old.GrantID, time.Hour)
			err := s.RotateRefreshToken(ctx, old.ID, next, agent.HashToken(agent.MintToken()), now())
			if err != nil && !errors.Is(err, store.ErrConflict) {
				t.Errorf("RotateRefreshToken: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d concurrent rotations succeeded, want 1", ok)
	}
}

func testOAuthRevoke(t *testing.T, s store.Store) {
	grant := agent.NewID("g_")
	a, b := newToken(store.OAuthAccessToken, grant, time.Minute), newToken(store.OAuthRefreshToken, grant, time.Hour)
	other := newToken(store.OAuthAccessToken, agent.NewID("g_"), time.Minute)
	for i, tok := range []*store.OAuthToken{a, b, other} {
		hash := ""
		if tok.Kind == store.OAuthRefreshToken {
			hash = agent.HashToken(agent.MintToken())
		}
		if err := s.CreateOAuthToken(ctx, tok, hash); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	first := now()
	if err := s.RevokeOAuthToken(ctx, a.ID, first); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeOAuthToken(ctx, a.ID, first.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetOAuthToken(ctx, a.ID); got == nil || got.RevokedAt == nil || !got.RevokedAt.Equal(first) {
		t.Fatalf("revoking twice keeps the first time: %+v", got)
	}
	if err := s.RevokeOAuthToken(ctx, "missing", first); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown token: want ErrNotFound, got %v", err)
	}
	n, err := s.RevokeOAuthGrant(ctx, grant, now())
	if err != nil || n != 1 {
		t.Fatalf("RevokeOAuthGrant revoked %d (%v), want 1 (the refresh token)", n, err)
	}
	if got, _ := s.GetOAuthToken(ctx, b.ID); got == nil || got.Live(now()) {
		t.Fatalf("the grant's refresh token is revoked: %+v", got)
	}
	if got, _ := s.GetOAuthToken(ctx, other.ID); got == nil || got.RevokedAt != nil {
		t.Fatalf("another grant's token is untouched: %+v", got)
	}
}

func testOAuthConsent(t *testing.T, s store.Store) {
	if _, err := s.GetOAuthConsent(ctx, agent.DefaultTenant, "user_1", "client_c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no consent yet: want ErrNotFound, got %v", err)
	}
	c := &store.OAuthConsent{TenantID: agent.DefaultTenant, OwnerID: "user_1", ClientID: "client_c", AgentID: "agt_1",
		Scopes: []string{"mcp"}, Resources: []string{"https://a.example/mcp"}, UpdatedAt: now()}
	for _, scopes := range [][]string{{"mcp"}, {"mcp", "openid"}} {
		c.Scopes = scopes
		if err := s.PutOAuthConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetOAuthConsent(ctx, c.TenantID, c.OwnerID, c.ClientID)
		if err != nil || !reflect.DeepEqual(got.Scopes, scopes) || got.AgentID != "agt_1" {
			t.Fatalf("GetOAuthConsent: %+v, %v; want scopes %v", got, err, scopes)
		}
	}
	c.TenantID = "no-such-tenant"
	if err := s.PutOAuthConsent(ctx, c); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("consent in an unknown tenant: want ErrNotFound, got %v", err)
	}
}

func testOAuthSigningKeys(t *testing.T, s store.Store) {
	ts := now()
	later := &store.OAuthSigningKey{ID: "k2", Algorithm: "ES256", PrivateKey: "pem2", CreatedAt: ts, ActiveFrom: ts.Add(time.Hour)}
	first := &store.OAuthSigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: "pem1", CreatedAt: ts, ActiveFrom: ts}
	for _, k := range []*store.OAuthSigningKey{later, first} {
		if err := s.CreateOAuthSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateOAuthSigningKey(ctx, first); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate key: want ErrConflict, got %v", err)
	}
	keys, err := s.ListOAuthSigningKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != "k1" || keys[1].ID != "k2" || keys[1].PrivateKey != "pem2" ||
		!keys[1].ActiveFrom.Equal(later.ActiveFrom) {
		t.Fatalf("ListOAuthSigningKeys (by activation): %+v, %v", keys, err)
	}
	if err := s.DeleteOAuthSigningKey(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.ListOAuthSigningKeys(ctx); len(keys) != 1 || keys[0].ID != "k2" {
		t.Fatalf("after delete: %+v", keys)
	}
}

func testOAuthPrune(t *testing.T, s store.Store) {
	r := newAuthRequest(time.Minute)
	mustAuthRequest(t, s, r)
	tok := newToken(store.OAuthAccessToken, "g_prune", time.Minute)
	if err := s.CreateOAuthToken(ctx, tok, ""); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneOAuth(ctx, now()); err != nil {
		t.Fatal(err)
	} else if _, err := s.GetOAuthAuthRequest(ctx, r.ID); err != nil {
		t.Fatalf("a live request survives pruning (pruned %d): %v", n, err)
	}
	if _, err := s.PruneOAuth(ctx, now().Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetOAuthAuthRequest(ctx, r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired request is pruned, got %v", err)
	}
	if _, err := s.GetOAuthToken(ctx, tok.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired token is pruned, got %v", err)
	}
}
