package kavach_test

import (
	"context"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// byToken authorizes readRepos with token and returns the decision's code.
func byToken(t *testing.T, k *kavach.Kavach, ctx context.Context, token string) api.DecisionCode {
	t.Helper()
	d, err := k.AuthorizeToken(ctx, token, readRepos, api.CallContext{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Code
}

// Every test below first uses a token twice, so that the second call is answered from
// the instance's cache, then changes what the token stands for.

func TestCachedTokenRotatedWithoutGrace(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{})
		for range 2 {
			if c := byToken(t, f.k, alice, a.Token); c != api.Allowed {
				t.Fatalf("before rotation: %s", c)
			}
		}
		rot, err := f.k.Agents().Rotate(alice, a.ID, api.RotateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if c := byToken(t, f.k, alice, a.Token); c != api.TokenInvalid {
			t.Fatalf("the old token right after rotation: %s", c)
		}
		for range 2 {
			if c := byToken(t, f.k, alice, rot.Token); c != api.Allowed {
				t.Fatalf("the new token: %s", c)
			}
		}
	})
}

func TestCachedTokenRotatedWithGrace(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		for _, grace := range []time.Duration{30 * time.Second, 10 * time.Minute} {
			a := create(t, f, alice, api.CreateAgentRequest{})
			byToken(t, f.k, alice, a.Token)
			rot, err := f.k.Agents().Rotate(alice, a.ID, api.RotateRequest{GracePeriod: agent.Duration(grace)})
			if err != nil {
				t.Fatal(err)
			}
			end := f.clock().Add(grace)
			// Walk through the grace period and as long again after its end.
			for now := f.clock(); now.Before(end.Add(grace)); now = now.Add(grace / 7) {
				f.set(now)
				want := api.Allowed
				if !now.Before(end) {
					want = api.TokenInvalid
				}
				for range 2 {
					if c := byToken(t, f.k, alice, a.Token); c != want {
						t.Fatalf("grace %s, old token at +%s: %s, want %s", grace, now.Sub(end.Add(-grace)), c, want)
					}
				}
			}
			f.set(end)
			if c := byToken(t, f.k, alice, a.Token); c != api.TokenInvalid {
				t.Fatalf("grace %s: the old token at the very end: %s", grace, c)
			}
			if c := byToken(t, f.k, alice, rot.Token); c != api.Allowed {
				t.Fatalf("grace %s: the new token: %s", grace, c)
			}
		}
	})
}

func TestCachedTokenOfRevokedAgent(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		a := create(t, f, alice, api.CreateAgentRequest{})
		byToken(t, f.k, alice, a.Token)
		byToken(t, f.k, alice, a.Token)
		if _, err := f.k.Agents().Revoke(alice, a.ID); err != nil {
			t.Fatal(err)
		}
		d, err := f.k.AuthorizeToken(alice, a.Token, readRepos, api.CallContext{})
		if err != nil || d.Allowed || d.Code != api.AgentRevoked {
			t.Fatalf("a revoked agent's token: %+v %v", d, err)
		}
	})
}

// A token cached for a caller that may see its agent stays TOKEN_INVALID for callers that
// may not: another owner, or an app or admin of another tenant.
func TestCachedTokenOfInvisibleAgent(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		if _, err := f.k.Tenants().Create(root, api.CreateTenantRequest{ID: "acme"}); err != nil {
			t.Fatal(err)
		}
		a := create(t, f, alice, api.CreateAgentRequest{})
		others := map[string]context.Context{
			"another owner":              bob,
			"an app of another tenant":   kavach.WithActor(context.Background(), api.Actor{Role: api.RoleApp, TenantID: "acme"}),
			"an admin of another tenant": kavach.WithActor(context.Background(), api.Actor{Role: api.RoleAdmin, TenantID: "acme"}),
		}
		for _, who := range []context.Context{alice, root} {
			if c := byToken(t, f.k, who, a.Token); c != api.Allowed {
				t.Fatalf("a caller that may see the agent: %s", c)
			}
			for name, ctx := range others {
				if c := byToken(t, f.k, ctx, a.Token); c != api.TokenInvalid {
					t.Errorf("%s, with the token cached: %s", name, c)
				}
			}
		}
	})
}

// Two instances share one Postgres: a token rotated or an agent revoked through A, and an
// API key revoked through A, are refused by B, which had them cached, within a bounded wait.
func TestSecretsChangedOnOtherInstance(t *testing.T) {
	a, b := twoInstances(t)
	onB := func(token string) func() *api.Decision {
		return func() *api.Decision {
			d, err := b.AuthorizeToken(root, token, readRepos, api.CallContext{})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	code := func(want api.DecisionCode) func(*api.Decision) bool {
		return func(d *api.Decision) bool { return d.Code == want }
	}
	x, err := a.Agents().Create(root, api.CreateAgentRequest{OwnerID: "o", Name: "x", Permissions: githubReader()})
	if err != nil {
		t.Fatal(err)
	}
	propagation(t, onB(x.Token), code(api.Allowed))
	onB(x.Token)() // now from B's cache
	rot, err := a.Agents().Rotate(root, x.ID, api.RotateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rotated token refused by the other instance after %v", propagation(t, onB(x.Token), code(api.TokenInvalid)))
	propagation(t, onB(rot.Token), code(api.Allowed))
	onB(rot.Token)()
	if _, err := a.Agents().Revoke(root, x.ID); err != nil {
		t.Fatal(err)
	}
	propagation(t, onB(rot.Token), code(api.AgentRevoked))

	key, err := a.APIKeys().Create(root, api.CreateAPIKeyRequest{Role: api.RoleApp})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := b.AuthenticateAPIKey(context.Background(), key.Key); err != nil {
			t.Fatalf("a new key on the other instance: %v", err)
		}
	}
	if _, err := a.APIKeys().Revoke(root, key.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		_, err := b.AuthenticateAPIKey(context.Background(), key.Key)
		if api.IsUnauthenticated(err) {
			break
		}
		if err != nil || time.Since(start) > 10*time.Second {
			t.Fatalf("the revoked key on the other instance after %v: %v", time.Since(start), err)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("revoked API key refused by the other instance after %v", time.Since(start))
}
