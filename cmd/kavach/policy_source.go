package main

import (
	"strings"

	"github.com/spf13/pflag"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/engine"
)

// bindBundleKeyFlags adds the flags of the key every bundle must be signed with, as serve
// names them.
func bindBundleKeyFlags(fs *pflag.FlagSet, key, id, alg, scope *string) {
	fs.StringVar(key, "bundle-verification-key", "", "require bundles signed with this PEM public key or HMAC secret (inline or a file) (env KAVACH_BUNDLE_VERIFICATION_KEY)")
	fs.StringVar(id, "bundle-key-id", "", "key id of that key (default kavach) (env KAVACH_BUNDLE_KEY_ID)")
	fs.StringVar(alg, "bundle-alg", "", "signature algorithm of that key: "+strings.Join(engine.BundleAlgs, ", ")+
		" (default: RS256 for RSA, ES256/ES384/ES512 by the curve, HS256 for a secret) (env KAVACH_BUNDLE_ALG)")
	fs.StringVar(scope, "bundle-scope", "", "scope claim every bundle signature must carry (default: none) (env KAVACH_BUNDLE_SCOPE)")
}

// policyConfig is where serve's custom rules come from.
func (c *serveConfig) policyConfig() kavach.PolicyConfig {
	return kavach.PolicyConfig{
		Dir: c.PolicyDir, Bundle: c.Bundle, PollInterval: c.BundlePoll,
		VerificationKey: c.BundleKey, KeyID: c.BundleKeyID, Alg: c.BundleAlg, Scope: c.BundleScope,
		Shadow: c.ShadowBundle, ShadowSample: c.ShadowSample, ShadowQueue: c.ShadowQueue,
	}
}

// policyFlags are serve's policy settings on a command that evaluates locally, so that it
// evaluates with the custom rules the server loads.
type policyFlags struct{ c serveConfig }

func (p *policyFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&p.c.PolicyDir, "policy-dir", "", "custom rules (package kavach.custom) and data, laid out under kavach/custom/ (env KAVACH_POLICY_DIR)")
	fs.StringVar(&p.c.Bundle, "bundle", "", "policy bundle: a .tar.gz file, a directory or an http(s) URL, read once (env KAVACH_BUNDLE)")
	bindBundleKeyFlags(fs, &p.c.BundleKey, &p.c.BundleKeyID, &p.c.BundleAlg, &p.c.BundleScope)
}

// given reports whether a policy flag is on the command line.
func (p *policyFlags) given(fs *pflag.FlagSet) bool {
	for _, name := range []string{"policy-dir", "bundle", "bundle-verification-key", "bundle-key-id", "bundle-alg", "bundle-scope"} {
		if fs.Changed(name) {
			return true
		}
	}
	return false
}

// resolve picks each setting as serve does: the flag, else its KAVACH_* variable, else the
// --config file.
func (p *policyFlags) resolve(g *globals) (kavach.PolicyConfig, error) {
	file, pick, err := g.serveSettings()
	if err != nil {
		return kavach.PolicyConfig{}, err
	}
	c := serveConfig{
		PolicyDir:   pick("policy-dir", "KAVACH_POLICY_DIR", file.PolicyDir, p.c.PolicyDir),
		Bundle:      pick("bundle", "KAVACH_BUNDLE", file.Bundle, p.c.Bundle),
		BundleKey:   pick("bundle-verification-key", "KAVACH_BUNDLE_VERIFICATION_KEY", file.BundleKey, p.c.BundleKey),
		BundleKeyID: pick("bundle-key-id", "KAVACH_BUNDLE_KEY_ID", file.BundleKeyID, p.c.BundleKeyID),
		BundleAlg:   pick("bundle-alg", "KAVACH_BUNDLE_ALG", file.BundleAlg, p.c.BundleAlg),
		BundleScope: pick("bundle-scope", "KAVACH_BUNDLE_SCOPE", file.BundleScope, p.c.BundleScope),
	}
	return c.policyConfig(), nil
}
