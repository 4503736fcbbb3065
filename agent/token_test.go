package agent

import (
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	t.Parallel()
	kinds := []struct {
		name       string
		prefix     string
		mint       func() string
		wellFormed func(string) bool
		other      func(string) bool // the other kind's check, which must refuse this one
	}{
		{"agent token", TokenPrefix, MintToken, WellFormedToken, WellFormedAPIKey},
		{"API key", APIKeyPrefix, MintAPIKey, WellFormedAPIKey, WellFormedToken},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := k.mint()
			if !strings.HasPrefix(s, k.prefix) || len(s) != len(k.prefix)+secretLen+checksumLen {
				t.Fatalf("%q has the wrong shape", s)
			}
			if !k.wellFormed(s) {
				t.Fatal("a minted secret must be well formed")
			}
			if k.other(s) {
				t.Fatal("one kind of secret must never pass for the other")
			}
			flipped := []byte(s)
			flipped[len(k.prefix)+7] ^= 1
			if k.wellFormed(string(flipped)) {
				t.Fatal("a secret with a changed character must fail its checksum")
			}
			if k.wellFormed(k.prefix+"short") || k.wellFormed("xx_"+s[len(k.prefix):]) || k.wellFormed(s+"x") {
				t.Fatal("malformed secrets must be rejected")
			}
			if k.mint() == s {
				t.Fatal("secrets must be random")
			}
			h := HashToken(s)
			if len(h) != 64 || strings.Contains(h, s) {
				t.Fatalf("hash %q is not a hex SHA-256", h)
			}
			if !VerifyToken(s, h) || VerifyToken(string(flipped), h) {
				t.Fatal("VerifyToken must accept the secret and reject another")
			}
			if want := s[:len(k.prefix)+8]; DisplayPrefix(s) != want {
				t.Fatalf("display prefix %q, want %q", DisplayPrefix(s), want)
			}
		})
	}
}
