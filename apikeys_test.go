package kavach_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

func TestBootstrapAPIKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if _, _, err := f.k.BootstrapAPIKey(ctx, "kva_not-a-key"); err == nil {
			t.Fatal("a malformed supplied key must be refused")
		}
		secret, created, err := f.k.BootstrapAPIKey(ctx, "")
		if err != nil || !created || !agent.WellFormedAPIKey(secret) {
			t.Fatalf("first bootstrap: %q %v %v", secret, created, err)
		}
		act, err := f.k.AuthenticateAPIKey(ctx, secret)
		if err != nil || act != api.Root {
			t.Fatalf("the bootstrap key acts as %+v, %v; want root", act, err)
		}
		again, created, err := f.k.BootstrapAPIKey(ctx, agent.MintAPIKey())
		if err != nil || created || again != "" {
			t.Fatalf("a database with a key is left alone: %q %v %v", again, created, err)
		}
		raw := f.rawRows(t)
		if strings.Contains(raw, secret[len(agent.APIKeyPrefix)+8:]) || !strings.Contains(raw, agent.HashToken(secret)) {
			t.Fatal("only the SHA-256 of an API key may be stored")
		}
	})
}

func TestBootstrapWithSuppliedKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		supplied := agent.MintAPIKey()
		secret, created, err := f.k.BootstrapAPIKey(context.Background(), supplied)
		if err != nil || !created || secret != supplied {
			t.Fatalf("bootstrap with a supplied key: %v %v", created, err)
		}
		if act, err := f.k.AuthenticateAPIKey(context.Background(), supplied); err != nil || act.Role != api.RoleRoot {
			t.Fatalf("the supplied key: %+v %v", act, err)
		}
	})
}

func TestAuthenticateAPIKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		keys := f.k.APIKeys()
		mk := func(req api.CreateAPIKeyRequest) string {
			k, err := keys.Create(root, req)
			if err != nil {
				t.Fatal(err)
			}
			return k.Key
		}
		admin := mk(api.CreateAPIKeyRequest{Role: api.RoleAdmin})
		user := mk(api.CreateAPIKeyRequest{Role: api.RoleUser, OwnerID: "alice"})
		revoked, err := keys.Create(root, api.CreateAPIKeyRequest{Role: api.RoleApp})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.Revoke(root, revoked.ID); err != nil {
			t.Fatal(err)
		}
		good := []struct {
			key  string
			want api.Actor
		}{
			{admin, api.Actor{Role: api.RoleAdmin, TenantID: agent.DefaultTenant}},
			{user, api.Actor{Role: api.RoleUser, TenantID: agent.DefaultTenant, OwnerID: "alice"}},
		}
		for _, tc := range good {
			if act, err := f.k.AuthenticateAPIKey(context.Background(), tc.key); err != nil || act != tc.want {
				t.Errorf("%s key: %+v %v", tc.want.Role, act, err)
			}
		}
		flipped := []byte(admin)
		flipped[10] ^= 1
		bad := map[string]string{
			"empty": "", "garbage": "kva_garbage", "checksum": string(flipped), "unknown": agent.MintAPIKey(),
			"revoked": revoked.Key, "agent token": agent.MintToken(),
		}
		var messages []string
		for name, key := range bad {
			_, err := f.k.AuthenticateAPIKey(context.Background(), key)
			if !api.IsUnauthenticated(err) {
				t.Errorf("%s: want unauthenticated, got %v", name, err)
				continue
			}
			messages = append(messages, err.Error())
		}
		for _, m := range messages {
			if m != messages[0] {
				t.Errorf("refusals must not tell keys apart: %q vs %q", m, messages[0])
			}
		}
	})
}

// A key revoked on an instance that has it cached is refused by that instance at once.
func TestRevokedAPIKeyRefusedAtOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		key, err := f.k.APIKeys().Create(root, api.CreateAPIKeyRequest{Role: api.RoleUser, OwnerID: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := f.k.AuthenticateAPIKey(context.Background(), key.Key); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.k.APIKeys().Revoke(alice, key.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.k.AuthenticateAPIKey(context.Background(), key.Key); !api.IsUnauthenticated(err) {
			t.Fatalf("a revoked key right after its revocation: %v", err)
		}
	})
}
