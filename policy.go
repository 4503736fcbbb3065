package kavach

import (
	"context"
	"time"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/engine"
)

// PolicyConfig says where custom rules (package kavach.custom) come from.
type PolicyConfig struct {
	// Dir holds custom rules and data laid out like a bundle source (kavach/custom/…).
	Dir string
	// Bundle is a bundle file, an unpacked bundle directory or an http(s) URL polled every
	// PollInterval (default 30s); its revisions replace Dir's.
	Bundle       string
	PollInterval time.Duration
	// VerificationKey, when set, must have signed every bundle: a PEM public key or an HMAC
	// secret, inline or as a file path. KeyID and Alg as when it was signed (defaults:
	// "kavach", and the key's own algorithm).
	VerificationKey string
	KeyID           string
	Alg             string
}

// customPolicy reads the policy directory, if any, as the first custom revision.
func customPolicy(pc PolicyConfig) (*engine.PolicySet, error) {
	if pc.Dir == "" {
		return nil, nil
	}
	return engine.LoadPolicyDir(pc.Dir)
}

// startBundles starts polling the configured bundle source.
func (k *Kavach) startBundles(ctx context.Context, pc PolicyConfig) error {
	if pc.Bundle == "" {
		return nil
	}
	var key *engine.BundleKey
	if pc.VerificationKey != "" {
		key = &engine.BundleKey{Key: pc.VerificationKey, KeyID: pc.KeyID, Alg: pc.Alg}
	}
	k.bundles = engine.NewBundleLoader(k.engine, engine.BundleSource{
		Location: pc.Bundle, Key: key, PollInterval: pc.PollInterval, Logger: k.log,
	})
	return k.parts.Start(ctx, k.bundles)
}

// PolicyStatus reports the active policy revision; any authenticated caller may read it.
func (k *Kavach) PolicyStatus(ctx context.Context) (*api.PolicyStatus, error) {
	if _, err := actor(ctx); err != nil {
		return nil, err
	}
	st := k.engine.Status()
	st.BundleLoaded = k.bundles == nil || k.bundles.Loaded()
	return &st, nil
}
