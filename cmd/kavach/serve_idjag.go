package main

import (
	"fmt"
	"strings"

	"github.com/kavachos/kavach-go/oidc"
)

// trustedIdPs parses --trusted-idp: ISSUER=JWKS_URL, split at the first '=' (an issuer has
// no query; a JWKS URL may).
func (c *oauthConfig) trustedIdPs() ([]oidc.TrustedIdP, error) {
	var out []oidc.TrustedIdP
	for _, v := range c.TrustedIdPs {
		issuer, jwks, ok := strings.Cut(v, "=")
		if !ok || issuer == "" || jwks == "" {
			return nil, fmt.Errorf("--trusted-idp %q: want ISSUER=JWKS_URL", v)
		}
		out = append(out, oidc.TrustedIdP{Issuer: issuer, JWKSURL: jwks})
	}
	return out, nil
}

// repeatedList is a list flag that may be repeated, each time with one or more
// comma-separated values. The occurrences on the command line add up; a list that the
// config file put there is replaced, not added to (and resolve does not apply the
// environment to a flag given on the command line).
type repeatedList struct {
	list *listValue
	last listValue // the list as the previous Set left it
}

func (r *repeatedList) Set(s string) error {
	var add listValue
	if err := add.Set(s); err != nil {
		return err
	}
	if !sameSlice(*r.list, r.last) {
		*r.list = nil // someone else filled it since: start over
	}
	*r.list = append(*r.list, add...)
	r.last = *r.list
	return nil
}

func (r *repeatedList) String() string {
	if r.list == nil {
		return ""
	}
	return r.list.String()
}

func (r *repeatedList) Type() string { return "list" }

// sameSlice reports whether a and b are the same slice, not merely equal ones.
func sameSlice(a, b listValue) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
